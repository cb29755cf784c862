"""What the exchange log keeps of a body: secrets never, everything else as the vendor sent it."""

from __future__ import annotations

import json

from integration.core.clients.transport import REDACTED, Redactor


def redactor() -> Redactor:
    found = Redactor()
    found.add("tok-0123456789")
    return found


def test_a_body_naming_no_secret_is_kept_as_sent_but_for_known_secret_values():
    body = '{"Guid": "a1",  "VatCode": "U25", "Echo": "tok-0123456789"}'
    assert redactor().body(body) == body.replace("tok-0123456789", REDACTED)


def test_secret_keys_are_redacted_however_the_json_spells_them():
    plain = redactor().body(json.dumps({"access_token": "abc", "Name": "x"}))
    assert json.loads(plain) == {"access_token": REDACTED, "Name": "x"}
    # A key written with a JSON escape is the same key.
    escaped = redactor().body('{"\\u0074oken": "abc", "Name": "x"}')
    assert json.loads(escaped) == {"token": REDACTED, "Name": "x"}
    upper = redactor().body('{"Authorization": "Bearer abc.def"}')
    assert "abc.def" not in upper


def test_form_pairs_and_auth_schemes_are_redacted_in_any_case():
    assert redactor().text("grant_type=authorization_code&CODE=xyz&Password=pw") == \
        f"grant_type=authorization_code&CODE={REDACTED}&Password={REDACTED}"
    assert redactor().text("sent basic dXNlcjpwdw== and BEARER abc") == \
        f"sent basic {REDACTED} and BEARER {REDACTED}"
    # "code" in JSON is an ordinary field (VAT codes, unit codes) and stays readable.
    assert redactor().body('{"code": "U25"}') == '{"code": "U25"}'
