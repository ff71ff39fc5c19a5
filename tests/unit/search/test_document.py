"""The index state of a product and the minimal writes between two states (no IO)."""

from __future__ import annotations

import json
import re

from chalicelib.search import document
from chalicelib.store import keys

BOOTS = {
    "product_id": "p1",
    "seller_id": "s1",
    "name": "Ботинки зимние",
    "vendor": "Ecco",
    "category_id": "7",
    "category_name": "Обувь",
    "description": "<p>Кожаные ботинки</p>",
    "price": 450000,
    "currency": "RUB",
    "pictures": ["https://img.example/1.jpg", "https://img.example/2.jpg"],
    "available": True,
}


def _stored(product):
    return document.build(product).item()


def _posting_terms(keys_or_items):
    """The terms of posting keys (their write shard suffix ``#<nn>`` off)."""
    return sorted(re.sub(r"#\d\d$", "", k["PK"].removeprefix("TERM#")) for k in keys_or_items
                  if k["PK"].startswith("TERM#"))


def test_can_weight_fields_name_over_vendor_over_category_over_description():
    doc = document.build(BOOTS)
    assert doc.terms["ботинк"] == 10 + 1  # name + description
    assert doc.terms["ecco"] == 6
    assert doc.terms["обув"] == 3
    assert doc.terms["кожан"] == 1


def test_can_carry_the_result_summary_on_every_posting():
    item = document.build(BOOTS).posting("ботинк")
    posting = json.loads(item[document.POSTING_BODY])
    assert posting["picture"] == "https://img.example/1.jpg"
    assert posting["price"] == 450000 and posting["seller_id"] == "s1" and posting["w"] == 11
    assert item["SK"] == "RANK#0988#PRODUCT#p1"


def test_can_rank_a_one_term_name_first_in_its_postings():
    item = document.build({**BOOTS, "name": "Ботинки"}).posting("ботинк")
    assert item["SK"] == "RANK#0888#PRODUCT#p1"  # 999 - (100 + 11)
    assert json.loads(item[document.POSTING_BODY])["x"] == 1


def test_new_product_writes_one_posting_per_term_and_its_document():
    diff = document.diff("p1", None, document.build(BOOTS))
    assert _posting_terms(diff.puts) == sorted(document.build(BOOTS).terms)
    assert diff.puts[-1]["SK"] == "SEARCHDOC" and diff.deletes == []
    assert diff.new_words["ботинки"] == "ботинк"


def test_unchanged_product_writes_nothing():
    diff = document.diff("p1", _stored(BOOTS), document.build(BOOTS))
    assert (diff.puts, diff.deletes) == ([], [])


def test_description_change_rewrites_every_posting_map_and_deletes_nothing():
    # every posting carries the product's term map: a new word changes all of them
    changed = {**BOOTS, "description": "Кожаные ботинки, мембрана"}
    diff = document.diff("p1", _stored(BOOTS), document.build(changed))
    assert _posting_terms(diff.puts) == sorted(document.build(changed).terms)
    assert diff.deletes == []
    bodies = [json.loads(p[document.POSTING_BODY]) for p in diff.puts if document.POSTING_BODY in p]
    assert all(b["t"]["мембра"] == 1 for b in bodies)


def _long(n_desc_words: int) -> dict:
    words = " ".join(f"слово{i}" for i in range(n_desc_words))
    return {**BOOTS, "description": f"<p>Кожаные ботинки {words}</p>"}


def test_can_carry_the_term_map_on_every_posting():
    doc = document.build(BOOTS)
    for term in doc.terms:
        body = json.loads(doc.posting(term)[document.POSTING_BODY])
        assert body["t"] == doc.terms and "tt" not in body


def test_can_cap_the_indexed_terms_keeping_name_vendor_and_category_terms():
    doc = document.build(_long(200))
    assert len(doc.terms) == document.INDEX_MAX_TERMS
    assert {"ботинк", "зимн", "ecco", "обув", "кожан"} <= set(doc.terms)  # name, vendor, category first
    assert "слово199" not in doc.terms  # deep in the description: beyond the cap
    body = json.loads(doc.posting("ботинк")[document.POSTING_BODY])
    assert "tt" not in body and len(body["t"]) == document.INDEX_MAX_TERMS
    assert len(doc.posting("ботинк")[document.POSTING_BODY].encode()) < 2048


def test_change_beyond_the_cap_writes_nothing():
    old, new = _long(200), {**_long(200), "description": _long(200)["description"] + " мембрана"}
    diff = document.diff("p1", _stored(old), document.build(new))
    assert diff.puts == [] and diff.deletes == []


def test_price_change_rewrites_the_postings_in_place():
    diff = document.diff("p1", _stored(BOOTS), document.build({**BOOTS, "price": 399000}))
    assert diff.deletes == []
    bodies = [json.loads(p[document.POSTING_BODY]) for p in diff.puts if document.POSTING_BODY in p]
    assert {b["price"] for b in bodies} == {399000}
    assert len(diff.puts) == len(document.build(BOOTS).terms) + 1


def test_rename_deletes_the_old_name_terms():
    diff = document.diff("p1", _stored(BOOTS), document.build({**BOOTS, "name": "Сапоги зимние"}))
    assert "сапог" in _posting_terms(diff.puts)
    deleted = _posting_terms(diff.deletes)
    assert "ботинк" in deleted  # its weight dropped from 11 to 1: the old posting goes
    assert "зимн" not in deleted


def test_deactivation_deletes_every_posting_and_the_document():
    diff = document.diff("p1", _stored(BOOTS), document.build({**BOOTS, "available": False}))
    assert diff.puts == []
    assert _posting_terms(diff.deletes) == sorted(document.build(BOOTS).terms)
    assert {"PK": "SEARCHDOC#p1", "SK": "SEARCHDOC"} in diff.deletes


def test_exact_name_key_ignores_order_and_repeats():
    assert document.name_key(["b", "a", "b"]) == document.name_key(["a", "b"]) == "a b"


def test_postings_of_one_product_land_in_one_write_shard_of_each_term():
    doc = document.build(BOOTS)
    shard = keys.search_posting("x", 1, "p1")["PK"].removeprefix("TERM#x#")
    assert doc.shards == keys.search_term_shards() > 1
    assert {doc.posting(t)["PK"] for t in doc.terms} == {f"TERM#{t}#{shard}" for t in doc.terms}
    assert doc.item()["ts"] == doc.shards


def test_a_document_indexed_before_the_sharding_moves_every_posting_and_word_to_the_shards():
    legacy = {k: v for k, v in _stored(BOOTS).items() if k != "ts"}  # written with the unsharded keys
    diff = document.diff("p1", legacy, document.build(BOOTS))
    assert {k["PK"] for k in diff.deletes} == {f"TERM#{t}" for t in document.build(BOOTS).terms}
    assert _posting_terms(diff.puts) == sorted(document.build(BOOTS).terms)
    assert all(re.search(r"#\d\d$", p["PK"]) for p in diff.puts if p["PK"].startswith("TERM#"))
    assert diff.puts[-1]["ts"] == keys.search_term_shards()
    assert diff.new_words["ботинки"] == "ботинк"  # the vocabulary's shards get its words too
    assert document.diff("p1", diff.puts[-1], document.build(BOOTS)).puts == []  # then nothing moves
