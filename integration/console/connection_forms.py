"""Connection forms: secrets are write-only."""

from __future__ import annotations

from django import forms
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from accounts.models import Connection


class SecretInput(forms.PasswordInput):
    """Never renders the stored value; shows whether one is set and when it last changed."""

    def __init__(self, status: str = "", attrs: dict | None = None) -> None:
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)
        self.status = status

    def render(self, name, value, attrs=None, renderer=None):  # type: ignore[no-untyped-def]
        field = super().render(name, None, attrs, renderer)
        return format_html('{}<div class="help secret-status">{}</div>', field, self.status)


def secret_status(connection: Connection | None, field: str) -> str:
    if connection is None or not getattr(connection, field):
        return _("Not set.")
    changed = getattr(connection, f"{field}_changed_at", None)
    if changed:
        return _("Set, last changed %(date)s — leave empty to keep it.") % {
            "date": date_format(localtime(changed), "SHORT_DATETIME_FORMAT")
        }
    return _("Set. Leave empty to keep it.")


class CredentialsMixin(forms.ModelForm):
    """Adds write-only fields for the secrets; an empty input keeps the stored value."""

    SECRETS = {
        "new_rackbeat_api_token": ("rackbeat_api_token", "Rackbeat API token"),
        "new_dinero_api_key": ("dinero_api_key", "Dinero API key"),
    }

    new_rackbeat_api_token = forms.CharField(label="Rackbeat API token", required=False, strip=True)
    new_dinero_api_key = forms.CharField(label="Dinero API key", required=False, strip=True)

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        instance = self.instance if self.instance.pk else None
        for form_field, (model_field, _label) in self.SECRETS.items():
            if form_field in self.fields:
                self.fields[form_field].widget = SecretInput(secret_status(instance, model_field))

    def save(self, commit: bool = True) -> Connection:
        connection = super().save(commit=False)
        for form_field, (model_field, _label) in self.SECRETS.items():
            value = self.cleaned_data.get(form_field)
            if value:
                connection.set_secret(model_field, value)
        if commit:
            connection.save()
            self.save_m2m()
        return connection


class ConnectionAdminForm(CredentialsMixin, forms.ModelForm):
    class Meta:
        model = Connection
        fields = [
            "name", "dinero_organization_id", "dinero_auth_method", "rackbeat_account_id",
            "alert_recipients", "language",
        ]
