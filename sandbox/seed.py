"""The demo company: a believable Danish wholesaler in both emulators, with fixed credentials.

``ensure_demo_company()`` is idempotent: it creates what is missing and leaves everything that
exists alone (including changes a person made in the sandbox UI), so ``make run`` can call it on
every start. The credentials are fixed and documented in docs/sandbox-rackbeat.md; they are only
valid against the sandbox, which never runs in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from sandbox.dinero import seeding
from sandbox.dinero.models import Contact, Product
from sandbox.rackbeat import invoicing, webhooks
from sandbox.rackbeat import models as rb

COMPANY_NAME = "Demo ApS"
RACKBEAT_ACCOUNT_ID = 418001
RACKBEAT_TOKEN = "sandbox-demo-rackbeat-token-418001"
DINERO_ORGANIZATION_ID = 400555
DINERO_API_KEY = "sandbox-demo-dinero-api-key-400555"


@dataclass(frozen=True)
class DemoCompany:
    rackbeat_token: str
    rackbeat_account_id: int
    dinero_organization_id: int
    dinero_api_key: str


# (number, name, domestic, EU, abroad, domestic exempt) — VAT rates in percent per VAT zone.
PRODUCT_GROUPS = [
    (1, "Færdigvarer", 25, 0, 0, 0),
    (2, "Råvarer", 25, 0, 0, 0),
    (3, "Reservedele", 25, 0, 0, 0),
    (4, "Ydelser", 25, 0, 0, 0),
    (5, "Emballage", 25, 0, 0, 0),
]
UNITS = [(1, "stk"), (2, "kasse"), (3, "time"), (4, "kg"), (5, "m"), (6, "palle")]
LAYOUTS = [(1, "Standard (dansk)", "da"), (2, "English", "en")]
PAYMENT_TERMS = [
    (1, "Netto 8 dage", "net", 8),
    (2, "Netto 14 dage", "net", 14),
    (3, "Løbende måned + 30 dage", "current_month", 30),
    (4, "Kontant", "cash", 0),
]
CUSTOMER_GROUPS = [(1, "Danske kunder"), (2, "EU-kunder"), (3, "Kunder uden for EU")]
SUPPLIER_GROUPS = [(1, "Vareleverandører"), (2, "Drift og ydelser")]

# (number, name, group, unit, sales price, cost price, stock-tracked)
PRODUCTS: list[tuple[str, str, int, int, str, str, bool]] = [
    ("FV-1001", "Stålreol 200x90 cm", 1, 1, "1495.00", "812.50", True),
    ("FV-1002", "Stålreol 200x60 cm", 1, 1, "1295.00", "701.20", True),
    ("FV-1003", "Pallereol 300 cm", 1, 1, "3995.00", "2310.00", True),
    ("FV-1004", "Arbejdsbord bøg 160 cm", 1, 1, "2895.00", "1540.75", True),
    ("FV-1005", "Værktøjsvæg perforeret", 1, 1, "749.00", "388.40", True),
    ("FV-1006", "Skuffesektion 6 skuffer", 1, 1, "2195.00", "1199.00", True),
    ("FV-1007", "Lagerkasse 40 l", 1, 1, "89.95", "41.30", True),
    ("FV-1008", "Lagerkasse 60 l", 1, 1, "119.95", "55.10", True),
    ("HYL-200/80", "Hyldeplade 200/80 galvaniseret", 1, 1, "349.00", "171.60", True),
    ("FV-1010", "Sækkevogn 250 kg", 1, 1, "1195.00", "640.00", True),
    ("FV-1011", "Trappestige 5 trin", 1, 1, "695.00", "352.25", True),
    ("FV-1012", "Stålskab med lås", 1, 1, "2495.00", "1375.00", True),
    ("FV-1013", "Garderobeskab 2 rum", 1, 1, "1895.00", "1010.00", True),
    ("FV-1014", "Palleløfter 2500 kg", 1, 1, "3495.00", "2105.90", True),
    ("FV 1015", "Rullebord 3 hylder", 1, 1, "995.00", "505.50", True),
    ("RV-2001", "Stålplade 2 mm", 2, 4, "18.50", "11.20", True),
    ("RV-2002", "Stålrør 40x40 mm", 2, 5, "42.00", "24.80", True),
    ("RV-2003", "Bøgeplade 30 mm", 2, 1, "620.00", "366.00", True),
    ("RV-2004", "Pulverlak RAL 7035", 2, 4, "96.00", "58.75", True),
    ("RV-2005", "Galvaniseret tråd", 2, 4, "34.00", "19.40", True),
    ("RV-2006", "Aluminiumsprofil 20x20", 2, 5, "27.50", "15.10", True),
    ("RV-2007", "Gummifod Ø40", 2, 1, "6.50", "2.90", True),
    ("RV-2008", "Hjul Ø100 med bremse", 2, 1, "74.00", "39.60", True),
    ("RV-2009", "Krydsafstiver", 2, 1, "58.00", "30.00", True),
    ("RV-2010", "Lim til træ 1 kg", 2, 4, "79.00", "41.00", True),
    ("RV-2011", "Skruer M6 x 20 (100)", 2, 2, "45.00", "21.70", True),
    ("SKRUE M8 x 40", "Skruer M8 x 40 (100)", 2, 2, "65.00", "31.90", True),
    ("RD/3001", "Reservehjul til sækkevogn", 3, 1, "149.00", "68.00", True),
    ("RD/3002", "Lås til stålskab", 3, 1, "129.00", "55.00", True),
    ("RD/3003", "Nøglesæt (2 stk)", 3, 1, "59.00", "22.40", True),
    ("RD/3004", "Hyldeclips (10 stk)", 3, 2, "39.00", "14.80", True),
    ("RD/3005", "Skuffeskinne 500 mm", 3, 1, "99.00", "44.50", True),
    ("RD/3006", "Hydraulikpumpe til palleløfter", 3, 1, "895.00", "512.00", True),
    ("RD/3007", "Gaffelhjul polyuretan", 3, 1, "219.00", "108.00", True),
    ("RD/3008", "Trinbeskyttelse til stige", 3, 1, "49.00", "18.90", True),
    ("RD/3009", "Endestop til reol", 3, 1, "24.00", "9.60", True),
    ("RD/3010", "Bundplade til skab", 3, 1, "189.00", "92.00", True),
    ("YD-4001", "Montage pr. time", 4, 3, "595.00", "0.00", False),
    ("YD-4002", "Levering Storkøbenhavn", 4, 1, "450.00", "0.00", False),
    ("YD-4003", "Levering Jylland/Fyn", 4, 1, "795.00", "0.00", False),
    ("YD-4004", "Lagerindretning, rådgivning pr. time", 4, 3, "850.00", "0.00", False),
    ("YD-4005", "Sikkerhedsinspektion af reoler", 4, 1, "2500.00", "0.00", False),
    ("YD+4006", "Serviceaftale, årlig", 4, 1, "4800.00", "0.00", False),
    ("EM-5001", "Papkasse 60x40x40", 5, 1, "14.50", "6.20", True),
    ("EM-5002", "Strækfilm 500 mm", 5, 1, "89.00", "44.00", True),
    ("EM-5003", "EUR-palle", 5, 6, "120.00", "85.00", True),
    ("EM-5004", "Hjørnebeskytter (50 stk)", 5, 2, "99.00", "47.50", True),
    ("EM-5005", "Pakketape 50 m", 5, 1, "19.00", "7.80", True),
    ("EM-5006", "Bobleplast 1 x 50 m", 5, 5, "149.00", "71.00", True),
    ("EM-5007", "Fyldmateriale 200 l", 5, 1, "69.00", "28.00", True),
]

# (number, name, group, lines [(product number, quantity)])
BOMS = [
    ("SÆT-REOL-01", "Reolsæt lager, komplet", 1, [("FV-1001", 2), ("HYL-200/80", 4), ("RD/3009", 8)]),
    ("KIT+BASIS", "Værkstedskit basis", 1, [("FV-1004", 1), ("FV-1005", 1), ("FV-1007", 4)]),
    ("SÆT VOGN 1", "Sækkevogn med ekstra hjul", 1, [("FV-1010", 1), ("RD/3001", 2)]),
]

# (name, e-mail, country, VAT zone, person, VAT number, street, postcode, city)
CUSTOMERS: list[tuple[str, str, str, str, bool, str, str, str, str]] = [
    ("Nørrebro Cykler ApS", "indkob@norrebrocykler.dk", "DK", "domestic", False, "DK31245678", "Nørrebrogade 112", "2200", "København N"),
    ("Vestjysk Byg A/S", "faktura@vestjyskbyg.dk", "DK", "domestic", False, "DK28765432", "Industrivej 4", "6950", "Ringkøbing"),
    ("Århus Tømrerlaug", "kontor@aarhus-toemrer.dk", "DK", "domestic", False, "DK19283746", "Skanderborgvej 210", "8260", "Viby J"),
    ("Fyns Auto Service ApS", "bogholderi@fynsauto.dk", "DK", "domestic", False, "DK37485960", "Rugårdsvej 55", "5000", "Odense C"),
    ("Mette Kristensen", "mette.k@example.dk", "DK", "domestic", True, "", "Solsikkevej 3", "4000", "Roskilde"),
    ("Lars Pedersen", "lars.pedersen@example.dk", "DK", "domestic", True, "", "Havnegade 18", "9000", "Aalborg"),
    ("Køge Lagerhotel ApS", "drift@koegelager.dk", "DK", "domestic", False, "DK40123456", "Åsen 7", "4600", "Køge"),
    ("Bornholms Isværk A/S", "regnskab@bornholmsis.dk", "DK", "domestic", False, "DK25364758", "Søndergade 9", "3700", "Rønne"),
    ("Sønderborg Maskinfabrik", "indkoeb@sbgmaskin.dk", "DK", "domestic", False, "DK11223344", "Ellegårdvej 30", "6400", "Sønderborg"),
    ("Herning Møbelhus", "info@herningmobel.dk", "DK", "domestic", False, "DK55667788", "Østergade 21", "7400", "Herning"),
    ("Gitte Mortensen", "gitte.mortensen@example.dk", "DK", "domestic", True, "", "Ahornvej 11", "7100", "Vejle"),
    ("Kolding Kaffebar ApS", "kontakt@koldingkaffe.dk", "DK", "domestic", False, "DK66778899", "Jernbanegade 2", "6000", "Kolding"),
    ("Esbjerg Havneservice A/S", "faktura@esbjerghavn.dk", "DK", "domestic", False, "DK77889900", "Dokvej 1", "6700", "Esbjerg"),
    ("Randers Regnskov Butik", "butik@randersregnskov.dk", "DK", "domestic", False, "DK88990011", "Tørvebryggen 11", "8900", "Randers C"),
    ("Helsingør Skibsværft", "indkob@hsvaerft.dk", "DK", "domestic", False, "DK99001122", "Strandgade 88", "3000", "Helsingør"),
    ("Peter Holm", "peter.holm@example.dk", "DK", "domestic", True, "", "Lindevej 6", "8600", "Silkeborg"),
    ("Frederiksberg Antik", "antik@frbantik.dk", "DK", "domestic", False, "DK12312312", "Gammel Kongevej 140", "1850", "Frederiksberg C"),
    ("Viborg Vinhandel ApS", "ordre@viborgvin.dk", "DK", "domestic", False, "DK32132132", "Sct. Mathias Gade 5", "8800", "Viborg"),
    ("Hamburger Lagertechnik GmbH", "einkauf@hh-lagertechnik.de", "DE", "eu", False, "DE812345678", "Lagerstraße 12", "20095", "Hamburg"),
    ("Malmö Verktyg AB", "inkop@malmoverktyg.se", "SE", "eu", False, "SE556677889901", "Hamngatan 4", "211 22", "Malmö"),
    ("Rotterdam Opslag B.V.", "inkoop@rotterdamopslag.nl", "NL", "eu", False, "NL812345678B01", "Havenstraat 33", "3011", "Rotterdam"),
    ("Atelier Dupont SARL", "compta@atelier-dupont.fr", "FR", "eu", False, "FR12345678901", "Rue de Lyon 8", "75012", "Paris"),
    ("Kiel Werkstatt KG", "buchhaltung@kielwerkstatt.de", "DE", "eu", False, "DE298765432", "Holstenstraße 50", "24103", "Kiel"),
    ("Helsinki Varasto Oy", "osto@helsinkivarasto.fi", "FI", "eu", False, "FI12345678", "Satamakatu 3", "00160", "Helsinki"),
    ("Gdańsk Magazyn Sp. z o.o.", "zakupy@gdanskmagazyn.pl", "PL", "eu", False, "PL5842736451", "ul. Portowa 7", "80-001", "Gdańsk"),
    ("Anna Schmidt", "anna.schmidt@example.de", "DE", "eu", True, "", "Blumenweg 2", "24937", "Flensburg"),
    ("Oslo Lagerbygg AS", "innkjop@oslolagerbygg.no", "NO", "abroad", False, "NO912345678MVA", "Havnegata 10", "0150", "Oslo"),
    ("Bristol Storage Ltd", "accounts@bristolstorage.co.uk", "GB", "abroad", False, "GB123456789", "Harbour Road 5", "BS1 5TY", "Bristol"),
    ("Zürich Werkzeug AG", "einkauf@zh-werkzeug.ch", "CH", "abroad", False, "CHE-123.456.789", "Limmatquai 9", "8001", "Zürich"),
    ("Reykjavík Geymsla ehf.", "innkaup@rvkgeymsla.is", "IS", "abroad", False, "IS123456", "Hafnarstræti 1", "101", "Reykjavík"),
]

# (name, e-mail, country, VAT zone, group, VAT number, city)
SUPPLIERS = [
    ("Dansk Stålindustri A/S", "ordre@danskstaal.dk", "DK", "domestic", 1, "DK21436587", "Fredericia"),
    ("Træ & Plade ApS", "salg@traeogplade.dk", "DK", "domestic", 1, "DK32547698", "Næstved"),
    ("Nordisk Emballage A/S", "kundeservice@nordiskemballage.dk", "DK", "domestic", 1, "DK43658709", "Taastrup"),
    ("Skrue-Centralen ApS", "ordre@skruecentralen.dk", "DK", "domestic", 1, "DK54769810", "Horsens"),
    ("Lakeriet i Vejle", "info@lakeriet-vejle.dk", "DK", "domestic", 1, "DK65870921", "Vejle"),
    ("Fragtmanden Øst A/S", "faktura@fragtmanden-oest.dk", "DK", "domestic", 2, "DK76981032", "Brøndby"),
    ("IT-Drift Nord ApS", "support@itdriftnord.dk", "DK", "domestic", 2, "DK87092143", "Aalborg"),
    ("Rollen-Werk GmbH", "vertrieb@rollenwerk.de", "DE", "eu", 1, "DE276543219", "Bremen"),
    ("Svensk Hydraulik AB", "order@svenskhydraulik.se", "SE", "eu", 1, "SE556123456701", "Göteborg"),
    ("Shenzhen Castor Co. Ltd", "sales@szcastor.example.cn", "CN", "abroad", 1, "", "Shenzhen"),
]

# Dinero-side contacts; those without e-mail are skipped by the start sync (with a reason).
DINERO_CONTACTS = [
    ("Café Strøget ApS", "kontakt@cafestroget.dk", "DK", False),
    ("Jens Hansen", "", "DK", True),
    ("Tømrermester Ole Bak", "ole@tomrerbak.dk", "DK", False),
    ("Lise Andersen", "lise.andersen@example.dk", "DK", True),
    ("Svendborg Sejlmageri", "", "DK", False),
    ("Lübeck Handel GmbH", "info@luebeckhandel.de", "DE", False),
    ("Nordic Storage AS", "post@nordicstorage.no", "NO", False),
    ("Vognmand Poul Due", "", "DK", False),
]
# (name, product number or "", price excl. VAT, account)
DINERO_PRODUCTS = [
    ("Konsulenttime", "KONS-01", "850.00", 1300),
    ("Kørsel pr. km", "KM-01", "3.70", 1300),
    ("Opbevaring pr. palle/måned", "OPB-01", "145.00", 1000),
    ("Reolinspektion", "INSP-01", "2500.00", 1300),
    ("Diverse materialer", "", "100.00", 1000),
    ("Gebyr for rykker", "", "100.00", 1400),
]


def ensure_demo_company() -> DemoCompany:
    """Create (once) the demo company in the Rackbeat and Dinero emulators; return its credentials."""
    with transaction.atomic():
        account = _rackbeat_account()
        _rackbeat_master_data(account)
        _rackbeat_invoices(account)
        _dinero_organization()
    return DemoCompany(
        rackbeat_token=RACKBEAT_TOKEN,
        rackbeat_account_id=RACKBEAT_ACCOUNT_ID,
        dinero_organization_id=DINERO_ORGANIZATION_ID,
        dinero_api_key=DINERO_API_KEY,
    )


# --- Rackbeat ---------------------------------------------------------------------------------------

def _rackbeat_account() -> rb.Account:
    account, _ = rb.Account.objects.get_or_create(account_id=RACKBEAT_ACCOUNT_ID, defaults={
        "company_name": COMPANY_NAME, "api_token": RACKBEAT_TOKEN, "user_name": "Integration (API)",
        "user_email": "api@demo-aps.example.dk", "company_vat": "DK12345678",
        "address_street": "Vesterbrogade 149", "address_zipcode": "1620", "address_city": "København V",
    })
    if account.api_token != RACKBEAT_TOKEN:
        account.api_token = RACKBEAT_TOKEN
        account.save(update_fields=["api_token"])
    return account


def _get_or_create(model, account: rb.Account, number: Any, defaults: dict[str, Any], event: str = ""):
    obj, created = model.objects.get_or_create(account=account, number=number, defaults=defaults)
    if created and event:
        webhooks.emit(account, event, obj.number)
    return obj


def _rackbeat_master_data(account: rb.Account) -> None:
    groups = {
        number: _get_or_create(rb.ProductGroup, account, number, {
            "name": name, "vat_domestic": Decimal(dom), "vat_eu": Decimal(eu), "vat_abroad": Decimal(abroad),
            "vat_domestic_exempt": Decimal(exempt)})
        for number, name, dom, eu, abroad, exempt in PRODUCT_GROUPS
    }
    units = {number: _get_or_create(rb.Unit, account, number, {"name": name}) for number, name in UNITS}
    layouts = {number: _get_or_create(rb.Layout, account, number, {"name": name, "locale": locale})
               for number, name, locale in LAYOUTS}
    terms = {number: _get_or_create(rb.PaymentTerm, account, number, {"name": name, "type": kind, "maturity_days": days})
             for number, name, kind, days in PAYMENT_TERMS}
    customer_groups = {n: _get_or_create(rb.CustomerGroup, account, n, {"name": name}) for n, name in CUSTOMER_GROUPS}
    supplier_groups = {n: _get_or_create(rb.SupplierGroup, account, n, {"name": name}) for n, name in SUPPLIER_GROUPS}

    items = {}
    for number, name, group, unit, price, cost, tracked in PRODUCTS:
        items[number] = _get_or_create(rb.Item, account, number, {
            "name": name, "group": groups[group], "unit": units[unit], "sales_price": Decimal(price),
            "cost_price": Decimal(cost), "recommended_cost_price": Decimal(cost), "inventory_enabled": tracked,
        }, event="product.created")
    for number, name, group, lines in BOMS:
        lot, created = rb.Item.objects.get_or_create(account=account, number=number, defaults={
            "type": rb.Item.Type.LOT, "name": name, "group": groups[group], "unit": units[1],
            "sales_price": sum((items[p].sales_price * q for p, q in lines), Decimal(0)) * Decimal("0.9"),
            "cost_price": sum((items[p].cost_price * q for p, q in lines), Decimal(0)),
        })
        if created:
            for position, (product, quantity) in enumerate(lines):
                rb.LotLine.objects.create(lot=lot, product=items[product], quantity=quantity, position=position)
            webhooks.emit(account, "lot.created", lot.number)

    zone_group = {"domestic": 1, "eu": 2, "abroad": 3}
    for number, (name, email, country, zone, person, vat, street, zipcode, city) in enumerate(CUSTOMERS, start=1):
        _get_or_create(rb.Customer, account, number, {
            "name": name, "contact_email": email, "address_country": country, "vat_zone": zone, "is_person": person,
            "company_vat": vat, "address_street": street, "address_zipcode": zipcode, "address_city": city,
            "currency": "DKK" if country == "DK" else ("NOK" if country == "NO" else "EUR"),
            "locale": "da" if country == "DK" else "en", "group": customer_groups[zone_group[zone]],
            "layout": layouts[1 if country == "DK" else 2], "payment_terms": terms[1 if person else 2 if country == "DK" else 3],
            "contact_phone": "" if person else f"+45 70 {20 + number:02d} {10 + number:02d} 00",
        }, event="customer.created")
    for number, (name, email, country, zone, group, vat, city) in enumerate(SUPPLIERS, start=1):
        _get_or_create(rb.Supplier, account, number, {
            "name": name, "contact_email": email, "address_country": country, "vat_zone": zone, "company_vat": vat,
            "address_city": city, "group": supplier_groups[group], "payment_terms": terms[3],
            "currency": "DKK" if country == "DK" else ("USD" if country == "CN" else "EUR"),
        }, event="supplier.created")


def _rackbeat_invoices(account: rb.Account) -> None:
    """A few booked invoices (and one draft of each kind), only on the first run."""
    if rb.CustomerInvoice.objects.filter(account=account).exists():
        return
    today = timezone.localdate()
    sales = [
        (1, 30, [("FV-1001", 4, 0), ("HYL-200/80", 16, 5), ("YD-4001", 3, 0)], True),
        (2, 24, [("FV-1014", 1, 0), ("RD/3006", 1, 10)], True),
        (5, 20, [("FV-1011", 1, 0), ("FV-1007", 6, 0)], True),
        (19, 15, [("SÆT-REOL-01", 2, 0), ("EM-5003", 2, 0)], True),
        (27, 10, [("FV-1012", 3, 7.5), ("YD-4003", 1, 0)], True),
        (8, 6, [("KIT+BASIS", 1, 0), ("SKRUE M8 x 40", 5, 0)], True),
        (12, 1, [("FV-1008", 10, 0), ("EM-5001", 20, 0)], False),
    ]
    for customer, days_ago, lines, book in sales:
        invoice = invoicing.save_invoice(account, {
            "customer_id": customer, "invoice_date": (today - timedelta(days=days_ago)).isoformat(),
            "lines": [{"item_id": item, "quantity": quantity, "discount_percentage": discount}
                      for item, quantity, discount in lines],
        }, purchase=False)
        if book:
            invoicing.book_invoice(invoice)
    purchases = [
        (1, 28, "DS-77812", [("RV-2001", 250, None), ("RV-2002", 120, None)], True),
        (3, 18, "NE-5531", [("EM-5001", 400, None), ("EM-5002", 24, None)], True),
        (8, 12, "RW-2025-118", [("RV-2008", 80, "37.90")], True),
        (4, 3, "SC-1042", [("RV-2011", 40, None), ("SKRUE M8 x 40", 30, None)], False),
    ]
    for supplier, days_ago, own_number, lines, book in purchases:
        invoice = invoicing.save_invoice(account, {
            "supplier_id": supplier, "supplier_invoice_number": own_number,
            "invoice_date": (today - timedelta(days=days_ago)).isoformat(),
            "lines": [{"item_id": item, "quantity": quantity, **({"line_price": price} if price else {})}
                      for item, quantity, price in lines],
        }, purchase=True)
        if book:
            invoicing.book_invoice(invoice)


# --- Dinero -------------------------------------------------------------------------------------------

def _dinero_organization() -> None:
    org = seeding.create_organization(COMPANY_NAME, organization_id=DINERO_ORGANIZATION_ID, api_key=DINERO_API_KEY,
                                      has_pro=True)
    seeding.install_standard_chart(org)
    for name, email, country, person in DINERO_CONTACTS:
        if not Contact.objects.filter(organization=org, data__Name=name).exists():
            seeding.create_contact(org, name, country=country, email=email, is_person=person)
    for name, number, price, account_number in DINERO_PRODUCTS:
        if not Product.objects.filter(organization=org, data__Name=name).exists():
            seeding.create_product(org, name, price=Decimal(price), product_number=number,
                                   account_number=account_number)
