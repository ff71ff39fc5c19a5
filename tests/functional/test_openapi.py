"""The API description is valid OpenAPI 3.1 and covers every route; /docs is self-contained."""

import json
import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_covers_every_route(api):
    from chalicelib.api.http import ROUTES

    resp = api.http.get("/openapi.json")
    assert resp.status_code == 200
    spec = resp.json_body
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    assert documented == {(r.path, r.method) for r in ROUTES}
    assert len(documented) >= 10


def test_every_route_that_takes_a_body_documents_the_415_it_answers_to_another_media_type(api):
    spec = api.http.get("/openapi.json").json_body
    taking = [(path, method) for path, ops in spec["paths"].items() for method, op in ops.items()
              if "requestBody" in op]
    assert ("/auth/login", "post") in taking and ("/actions/{token}", "post") in taking
    assert [(path, method) for path, method in taking if "415" not in spec["paths"][path][method]["responses"]] == []
    resp = api.http.post("/auth/login", body="email=a", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415 and resp.headers["Content-Type"] == "application/problem+json"


def test_docs_page_loads_nothing_from_elsewhere(api):
    resp = api.http.get("/docs")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    html = resp.body.decode()
    assert "/auth/register" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


# Every money value an answer can carry, by the names the API gives them ("available" is also a
# count of units in a cart line and a flag on products: the wallet's is checked by name below).
MONEY_NAMES = {"price", "old_price", "price_seen", "line_total", "subtotal", "items_total", "delivery_price", "total",
               "totals", "held", "earnings", "amount", "available_change", "held_change", "earnings_change",
               "delivery_seen"}


def _answer_schemas(spec):
    """Every component schema an answer (2xx or problem) can contain, by name."""
    schemas, seen = spec["components"]["schemas"], {}
    pending = [content["schema"] for ops in spec["paths"].values() for op in ops.values()
               for resp in op["responses"].values() for content in resp.get("content", {}).values()]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[1]
                if name not in seen:
                    seen[name] = schemas[name]
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return seen


def _is_money(prop) -> bool:
    """A Money object, or a list / map / nullable of them."""
    text = json.dumps(prop)
    return "#/components/schemas/Money" in text and '"type": "integer"' not in text


def test_every_money_value_in_an_answer_is_a_money_object(api):
    spec = api.http.get("/openapi.json").json_body
    answers = _answer_schemas(spec)
    assert {"Order", "Cart", "Wallet", "SellerBalance", "Product", "Shop"} <= set(answers)
    not_money = sorted(f"{name}.{prop}" for name, schema in answers.items() if name != "Money"
                       for prop, value in schema.get("properties", {}).items()
                       if prop in MONEY_NAMES and not _is_money(value))
    assert not_money == []
    assert _is_money(answers["Wallet"]["properties"]["available"])
    money = spec["components"]["schemas"]["Money"]
    assert set(money["properties"]) == {"amount", "currency"} and money["properties"]["amount"]["type"] == "integer"
    assert "Money in responses" in spec["info"]["description"]


def test_schema_names_are_unique_readable_class_names(api):
    spec = api.http.get("/openapi.json").json_body
    names = list(spec["components"]["schemas"])
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", n) for n in names), names  # no module paths, no -Input
    assert {"DeliveryMethod", "DeliveryMethodIn", "CartLine", "CartDeliveryMethod", "Order", "Money"} <= set(names)


def test_created_and_cacheable_answers_document_their_headers(api):
    spec = api.http.get("/openapi.json").json_body
    checkout = spec["paths"]["/checkout"]["post"]["responses"]["201"]
    assert "Location" in checkout["headers"]
    products = spec["paths"]["/products"]["get"]
    assert set(products["responses"]["200"]["headers"]) == {"ETag", "Cache-Control"}
    assert "304" in products["responses"]
    assert "If-None-Match" in [p["name"] for p in products["parameters"]]


def test_docs_page_runs_the_vendored_ui_from_this_api(api):
    page = api.http.get("/docs")
    html = page.body.decode()
    assert 'src="docs/swagger-ui-bundle.js"' in html and 'href="docs/swagger-ui.css"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    bundle = api.http.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.headers["Content-Type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in bundle.body.decode()
    start = api.http.get("/docs/docs.js").body.decode()
    assert "validatorUrl: null" in start and "/openapi.json" in start
    assert api.http.get("/docs/swagger-ui.css").headers["Content-Type"].startswith("text/css")
    assert api.http.get("/docs/index.html").status_code in (403, 404)  # only the files the page uses (no route)
