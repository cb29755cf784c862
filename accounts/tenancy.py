"""Tenant isolation: which connections a user may see, applied to every admin list and view.

:class:`TenantScopedAdminMixin` is the one chokepoint every admin class for tenant data goes
through. It scopes, in one place, everything a ModelAdmin can show or change:

* the queryset (lists, search, actions, the change, delete and history pages, autocomplete of
  this model from other forms);
* single-object lookups: another tenant's object, a deleted one or a malformed id answer 404 —
  never Django's "perhaps it was deleted?" redirect, never a 500;
* django-simple-history's history list and its history detail / revert form, which look records
  up on their own and would otherwise show and revert any tenant's object;
* object-level view/change/delete permissions (a second line behind the lookups);
* list-filter choices (a plain foreign-key filter lists every tenant's rows);
* foreign-key and many-to-many choices in forms (a form cannot attach a row to another tenant).

``accounts.checks`` refuses to start when an admin for a tenant model does not use it, and
``tests/test_isolation_url_map.py`` requests every URL of the site with another tenant's ids.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path, unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy

from accounts.ids import optional_id
from accounts.models import Connection


def connections_for(user: User | AnonymousUser) -> QuerySet[Connection]:
    """Connections visible to ``user``: all for superusers, their memberships for everyone else."""
    if not user.is_authenticated or not user.is_active:
        return Connection.objects.none()
    if user.is_superuser:
        return Connection.objects.all()
    return Connection.objects.filter(memberships__user=user)


def get_connection_for(user: User | AnonymousUser, pk: Any) -> Connection:
    """The connection ``pk`` if ``user`` may see it, else 404 (never reveal that it exists)."""
    try:
        return connections_for(user).get(pk=pk)
    except (Connection.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise Http404("No such connection.") from exc


def may_see_connection(user: User | AnonymousUser, connection_id: int | None) -> bool:
    if connection_id is None:
        return bool(user.is_authenticated and user.is_active and user.is_superuser)
    return connections_for(user).filter(pk=connection_id).exists()


class ConnectionFilter(admin.SimpleListFilter):
    """Only the connections the user may see (a plain FK filter would list every tenant).

    ``field_path`` is the ORM path to the Connection; the tenant mixin makes a subclass per path.
    """

    title = gettext_lazy("connection")
    parameter_name = "connection"
    field_path = "connection"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in connections_for(request.user).values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        connection_id = optional_id(self.value(), "connection")
        if connection_id is None:
            return queryset
        return queryset.filter(**{f"{self.field_path}__pk": connection_id})


def connection_filter_for(field_path: str) -> type[ConnectionFilter]:
    if field_path == "connection":
        return ConnectionFilter
    return type("ConnectionFilter", (ConnectionFilter,), {"field_path": field_path, "parameter_name": field_path})


class TenantScopedAdminMixin:
    """ModelAdmin mixin limiting everything to the user's connections (see the module docstring).

    ``connection_lookup`` is the ORM path from the model to its Connection (``"connection"`` by
    default, ``""`` for the Connection admin itself). Superusers see every connection.
    """

    connection_lookup = "connection"

    # --- rows ---------------------------------------------------------------------------------
    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        qs = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return qs
        allowed = connections_for(request.user).values("pk")
        if self.connection_lookup:
            return qs.filter(**{f"{self.connection_lookup}__in": allowed})
        return qs.filter(pk__in=allowed)

    def connection_id_of(self, obj: models.Model) -> int | None:
        """The connection an object (or a historical record's instance) belongs to."""
        if not self.connection_lookup:
            return obj.pk
        *path, last = self.connection_lookup.split("__")
        for name in path:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return getattr(obj, f"{last}_id", None)

    def is_visible(self, request: HttpRequest, obj: models.Model) -> bool:
        if request.user.is_superuser:
            return True
        return may_see_connection(request.user, self.connection_id_of(obj))

    def tenant_object_or_404(self, request: HttpRequest, object_id: str) -> models.Model:
        """The object if this user may see it; 404 for another tenant's, a missing or a malformed id."""
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None:
            raise Http404("No such object.")
        return obj

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):  # type: ignore[no-untyped-def]
        # Django redirects to the index saying the object "perhaps was deleted" — which tells a
        # prober that the id is worth trying elsewhere. Another tenant's id simply does not exist.
        raise Http404("No such object.")

    # --- object-level permissions: a second line behind the scoped lookups ----------------------
    def has_view_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return super().has_view_permission(request, obj) and (obj is None or self.is_visible(request, obj))  # type: ignore[misc]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return super().has_change_permission(request, obj) and (obj is None or self.is_visible(request, obj))  # type: ignore[misc]

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return super().has_delete_permission(request, obj) and (obj is None or self.is_visible(request, obj))  # type: ignore[misc]

    # --- history (Django's and django-simple-history's) -----------------------------------------
    def history_view(self, request, object_id, extra_context=None):  # type: ignore[no-untyped-def]
        if self.get_object(request, unquote(object_id)) is None:
            # A deleted object's history is still listed by simple-history from its records —
            # but only when the latest record belongs to a connection the user may see.
            record = self._latest_record(object_id)
            if record is None or not self.is_visible(request, record.instance):
                raise Http404("No such object.")
        return super().history_view(request, object_id, extra_context)  # type: ignore[misc]

    def history_form_view(self, request, object_id, version_id, extra_context=None):  # type: ignore[no-untyped-def]
        """simple-history's detail and revert form: both the version and the live object must be ours."""
        history_model = self._history_model()
        if history_model is None:
            raise Http404("No history.")
        try:
            record = history_model.objects.filter(
                **{self.model._meta.pk.attname: self._clean_pk(object_id),  # type: ignore[attr-defined]
                   "history_id": history_model._meta.pk.to_python(version_id)}
            ).first()
        except (ValidationError, ValueError, TypeError, OverflowError):
            record = None
        if record is None or not self.is_visible(request, record.instance):
            raise Http404("No such version.")
        live = self.model._default_manager.filter(pk=record.instance.pk).first()  # type: ignore[attr-defined]
        if live is not None and self.get_object(request, str(live.pk)) is None:
            raise Http404("No such version.")
        return super().history_form_view(request, object_id, version_id, extra_context)  # type: ignore[misc]

    def _history_model(self) -> type[models.Model] | None:
        manager_name = getattr(self.model._meta, "simple_history_manager_attribute", None)  # type: ignore[attr-defined]
        if not manager_name:
            return None
        return getattr(self.model, manager_name).model  # type: ignore[attr-defined]

    def _clean_pk(self, object_id: str) -> Any:
        return self.model._meta.pk.to_python(unquote(object_id))  # type: ignore[attr-defined]

    def _latest_record(self, object_id: str) -> models.Model | None:
        history_model = self._history_model()
        if history_model is None:
            return None
        try:
            return history_model.objects.filter(
                **{self.model._meta.pk.attname: self._clean_pk(object_id)}  # type: ignore[attr-defined]
            ).order_by("-history_date", "-history_id").first()
        except (ValidationError, ValueError, TypeError, OverflowError):
            return None

    # --- choices ---------------------------------------------------------------------------------
    def get_list_filter(self, request):  # type: ignore[no-untyped-def]
        return [self._scoped_list_filter(entry) for entry in super().get_list_filter(request)]  # type: ignore[misc]

    def _scoped_list_filter(self, entry: Any) -> Any:
        """Relation filters offer only the user's own rows; other filters are left alone."""
        if isinstance(entry, str):
            field_path, filter_class = entry, None
        elif isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[0], str):
            field_path, filter_class = entry
        else:
            return entry  # a SimpleListFilter: its lookups are its own (ConnectionFilter is scoped)
        try:
            field = get_fields_from_path(self.model, field_path)[-1]  # type: ignore[attr-defined]
        except (FieldDoesNotExist, NotRelationField):
            return entry
        related = getattr(field, "related_model", None)
        if related is None:
            return entry
        if related is Connection:
            return connection_filter_for(field_path)
        if filter_class is None or filter_class is admin.RelatedFieldListFilter:
            # Offers only the related rows that occur in this user's (scoped) list.
            return (field_path, admin.RelatedOnlyFieldListFilter)
        return entry

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        scoped = self._scoped_choices(db_field.related_model, request)
        if scoped is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scoped
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        scoped = self._scoped_choices(db_field.related_model, request)
        if scoped is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scoped
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def _scoped_choices(self, related_model: type[models.Model], request: HttpRequest) -> QuerySet | None:
        return scoped_choices(self.admin_site, related_model, request)  # type: ignore[attr-defined]


def people_for(user: User | AnonymousUser) -> QuerySet:
    """Users a non-superuser may pick (e.g. for a membership) or see named.

    Those who share one of their connections, and staff accounts without any connection yet (a new
    colleague an operator created, waiting for access) — never another tenant's people, and never
    the operators.
    """

    people = get_user_model().objects.all()
    if user.is_authenticated and user.is_active and user.is_superuser:
        return people
    shared = connections_for(user).values("pk")
    return people.filter(
        models.Q(memberships__connection__in=shared) | models.Q(memberships__isnull=True, is_staff=True),
        is_superuser=False,
    ).distinct()


def scoped_choices(admin_site: admin.AdminSite, related_model: type[models.Model],
                   request: HttpRequest) -> QuerySet | None:
    """The rows a form field pointing at ``related_model`` may offer, or None when not tenant data."""

    if related_model is Connection:
        return connections_for(request.user)
    if related_model is get_user_model():
        return people_for(request.user)
    related_admin = admin_site._registry.get(related_model)
    if isinstance(related_admin, TenantScopedAdminMixin):
        return related_admin.get_queryset(request)
    return None


class TenantScopedInlineMixin:
    """For inlines on a tenant admin: their rows hang off a visible parent; their choices are scoped."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        scoped = scoped_choices(self.admin_site, db_field.related_model, request)  # type: ignore[attr-defined]
        if scoped is not None and "queryset" not in kwargs:
            kwargs["queryset"] = scoped
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


def connection_path(model: type[models.Model]) -> str | None:
    """The ORM path from ``model`` to its Connection ("" for Connection itself), None if not tenant data.

    Follows a direct foreign key to Connection, or one hop through another model that has one (an
    operation's events); historical records of a Connection are found by their ``id``.
    """
    if model is Connection:
        return ""
    if getattr(model, "instance_type", None) is Connection:  # django-simple-history's record
        return "id"
    relations = [f for f in model._meta.get_fields()
                 if f.is_relation and f.concrete and (f.many_to_one or f.one_to_one)]
    for f in relations:
        if f.related_model is Connection:
            return f.name
    for f in relations:
        related = f.related_model
        if related is None or related is model:
            continue
        inner = next((g.name for g in related._meta.get_fields()
                      if g.is_relation and g.concrete and g.related_model is Connection), None)
        if inner:
            return f"{f.name}__{inner}"
    return None
