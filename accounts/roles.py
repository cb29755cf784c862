"""The two permission groups, kept in step with the models after every ``migrate``.

Groups are (re)built from this definition by a ``post_migrate`` handler rather than a frozen data
migration, so a model added later is covered the next time the service migrates.

* **Accountant** — view connections; edit integration settings and mappings; view the sync log;
  retry and mark documents handled; run troubleshooting. Only for connections they are a member of
  (see ``accounts.tenancy``).
* **Support consultant** — everything in this service's apps, including credentials and
  activation, for the connections they are a member of.

Neither role sees django-q2's own admin (queued tasks, successes, failures, schedules): those rows
are not scoped to a connection — a failed task's result can quote another tenant's document — so
the task queue is for operators (superusers) only.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

ACCOUNTANT = "Accountant"
SUPPORT_CONSULTANT = "Support consultant"

OUR_APPS = ("accounts", "mappings", "integration")

# Models an accountant edits (add/change/delete), by app label and model name.
ACCOUNTANT_EDITS = {
    "integration": {"integrationsettings"},
    "mappings": {"accountmatrixcell", "unitmapping", "layoutmapping"},
}
ACCOUNTANT_EXTRA = {
    ("accounts", "run_troubleshooting"),
    ("integration", "retry_syncoperation"),
    ("integration", "handle_syncoperation"),
    ("mappings", "refresh_reference_data"),
}
# Never granted to accountants even though they can view the model.
ACCOUNTANT_NEVER = {("accounts", "change_credentials"), ("accounts", "activate_connection")}


def accountant_permissions():
    perms = Permission.objects.filter(content_type__app_label__in=OUR_APPS).select_related("content_type")
    chosen = []
    for perm in perms:
        app, model, codename = perm.content_type.app_label, perm.content_type.model, perm.codename
        if (app, codename) in ACCOUNTANT_NEVER or (model.startswith("historical") and not codename.startswith("view_")):
            continue
        if codename.startswith("view_") and model != "membership":
            chosen.append(perm)
        elif model in ACCOUNTANT_EDITS.get(app, set()) and codename.split("_", 1)[0] in {"add", "change", "delete"}:
            chosen.append(perm)
        elif (app, codename) in ACCOUNTANT_EXTRA:
            chosen.append(perm)
    return chosen


def consultant_permissions():
    return list(Permission.objects.filter(content_type__app_label__in=OUR_APPS))


def ensure_roles(**_kwargs) -> None:
    """Create or update both groups; safe to run any number of times."""
    accountant, _ = Group.objects.get_or_create(name=ACCOUNTANT)
    accountant.permissions.set(accountant_permissions())
    consultant, _ = Group.objects.get_or_create(name=SUPPORT_CONSULTANT)
    consultant.permissions.set(consultant_permissions())
