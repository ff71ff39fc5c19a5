"""What the index holds for one product, and how to move it from one state to another (pure).

A product is indexed as
- one **posting** per term (``TERM#<term>`` / ``RANK#<999-rank>#PRODUCT#<pid>``): the term's
  weight in this product, the product's name key (for the exact-name boost), the product's
  **term map** (term → weight, at most ``MAP_MAX_TERMS``) and the summary a result shows and
  filters read (price, seller, category), packed in one JSON attribute — so a multi-word query
  reads one word's postings and checks every other word (and the typed prefix) in memory, and a
  results page needs no other read;
- one **search document** (``SEARCHDOC#<pid>``): the whole term → weight map, the name key, a
  digest of the posting body and the summary (``s``). It is what the indexer diffs against
  (what *is* indexed, not what the caller believes was), what a query falls back to for a
  product whose posting map was trimmed, and what a multi-word query's results show;
- **vocabulary** words (``VOCAB#<2 chars>`` / ``WORD#<word>``) → term, for prefix expansion;
- one **match-list entry** per term whose weight or name key changed (``fresh_item``: the
  term's match list, ``matches``, which a multi-word query intersects), ordered by a write id
  (the time, then a random tie-break).

Only available products are indexed: deactivating one deletes its postings and document.

A product is indexed by at most ``INDEX_MAX_TERMS`` (48) terms: every name, vendor, model and
category term, then description terms in the order they occur — so a word found only deep in a
long description is not searchable (a documented bound: it keeps index writes per product
bounded, about 50 items at most, 15–25 for ordinary products).

Weights (summed over the fields a term occurs in): name 10, vendor 6, author 6, model 4,
category 3, publisher 3, codes (barcodes, ISBN, vendor code as whole terms: ``code_terms``) 2,
description 1 — the order the issue asks for. Flag terms (``~sale``, ``~a:<author term>``) are
added after the cap, weigh ``FLAG_WEIGHT`` and score nothing (see the package doc). A query
scores 2×weight for a word's own term and 1×weight for a term it only begins (prefix), plus
``NAME_EXACT_BONUS`` when the query's terms are exactly the name's terms.

The term map of a posting is capped at ``MAP_MAX_TERMS`` (64) terms, strongest first: name,
vendor, model and category terms (weight ≥ 3) before description-only terms (weight 1), then in
the order they occur — so beyond the cap only description words are left out, and the posting
says so (``tt``). A query that cannot find a word in a trimmed map reads that product's search
document to decide (exact, one BatchGetItem per 100 such candidates); with the cap a posting
stays around 1 KB (one write unit) for ordinary products. The map is part of the digest: a
change of the product's searchable text rewrites every posting (as a price change does).

A posting's sort key ranks by (the name is exactly this term, weight): for a one-word query
that *is* the score order (the bonus exceeds any 2×weight), so one-word queries — every
as-you-type keystroke of a first word — read a term's postings page by page and stop after
one results page.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain import catalog as catalog_rules
from chalicelib.search import text
from chalicelib.store import keys

CODES = "codes"  # barcodes, ISBN, vendor code (``code_terms``)
FIELD_WEIGHTS = (("name", 10), ("vendor", 6), ("author", 6), ("model", 4), ("category_name", 3), ("publisher", 3),
                 (CODES, 2), ("description", 1))
NAME_EXACT_BONUS = 80
EXACT_RANK = 100  # added to the sort value of a posting whose product's name is exactly its term
NAME_KEY_MAX_TERMS = 12
MAP_MAX_TERMS = 64  # terms a posting's map carries (the search document has them all)
# Terms a product is indexed by: all of its name, vendor, model and category terms come first
# (strongest), then description terms in the order they occur. Without a cap, one long HTML
# description (real pet-shop feeds carry hundreds of words) turned into 160+ postings per product.
INDEX_MAX_TERMS = 48
DESCRIPTION_MAX_CHARS = 20_000  # a description longer than this is indexed by its beginning

POSTING_BODY = "r"
SUMMARY = "s"  # a search document's copy of the summary

# Flag terms: postings of products with a property a query can require exactly, read like a
# word's postings (``query`` adds them to the query's words with no points): ``~`` is never
# part of a word (``text.words``). Always in a posting's term map, whatever the cap.
FLAG = "~"
SALE_TERM = "~sale"  # on sale: the old price is above the price
AUTHOR_FLAG = "~a:"  # + a term of the book's author: ``author=`` requires each of its words
FLAG_WEIGHT = 1


def is_flag(term: str) -> bool:
    return term.startswith(FLAG)


def author_terms(author: str) -> list[str]:
    """The flag terms an ``author`` value is indexed by, or required by in ``author=``."""
    return [AUTHOR_FLAG + t for t in text.index_terms(author[:DESCRIPTION_MAX_CHARS], keep_stopwords=False)]


def code_terms(product: dict[str, Any]) -> dict[str, str]:
    """Barcodes, the ISBN and the vendor code as whole terms (``978-5-699-23647-3`` →
    ``9785699236473``, the way a query spells it: ``text.query_words``) → the surface word: a
    code is found exactly by ``q=<code>``, and its parts are not terms."""
    codes = [*(product.get("barcodes") or []), product.get("isbn"), product.get("vendor_code")]
    out: dict[str, str] = {}
    for code in codes:
        if code and isinstance(code, str):
            words = text.query_words(code)
            joined = "".join(w.term for w in words)
            if joined and len(joined) <= text.MAX_WORD_CHARS:
                out[joined] = "".join(w.surface for w in words)
    return out

# The summary every posting carries: what a search result shows and what filters read.
SUMMARY_FIELDS = ("product_id", "name", "price", "old_price", "currency", "picture", "seller_id", "category_id",
                  "category_key", "category_name", "vendor", "author", "available")


assert NAME_EXACT_BONUS > 2 * sum(w for _, w in FIELD_WEIGHTS) < EXACT_RANK  # the sort order is the score order


def rank_value(term: str, weight: int, nk: str) -> int:
    """The sort value of a posting: exact one-term names first, then by weight."""
    return weight + (EXACT_RANK if nk == term else 0)


def name_key(terms: list[str]) -> str:
    """The set of a name's terms as one string: equal name keys = the same words."""
    unique = sorted(set(terms))
    return " ".join(unique) if len(unique) <= NAME_KEY_MAX_TERMS else ""


def _category_key(product: dict[str, Any]) -> str | None:
    if not product.get("category_id") or not product.get("seller_id"):
        return None
    from chalicelib.store.catalog import category_key  # the listing's own category id

    return category_key(product["seller_id"], str(product["category_id"]))


def summary(product: dict[str, Any]) -> dict[str, Any]:
    pictures = product.get("pictures") or []
    out = {
        "product_id": product["product_id"],
        "name": product.get("name") or "",
        "price": int(product.get("price") or 0),
        "old_price": int(product["old_price"]) if catalog_rules.discounted(product) else None,
        "currency": product.get("currency") or "",
        "picture": pictures[0] if pictures else None,
        "seller_id": product.get("seller_id") or "",
        "category_id": str(product["category_id"]) if product.get("category_id") else None,
        "category_key": _category_key(product),
        "category_name": product.get("category_name"),
        "vendor": product.get("vendor"),
        "author": product.get("author"),
        "available": True,
    }
    return {k: v for k, v in out.items() if v is not None}


def indexable(product: dict[str, Any] | None) -> bool:
    return bool(product and product.get("available", True) and not product.get("blocked") and product.get("name"))


def term_map(terms: dict[str, int]) -> tuple[dict[str, int], bool]:
    """The map a posting carries: at most ``MAP_MAX_TERMS`` terms, strongest first (ties in the
    order they occur: name, vendor, model, category, description); True when some were left out."""
    flags = {t: w for t, w in terms.items() if is_flag(t)}
    if len(terms) - len(flags) <= MAP_MAX_TERMS:
        return dict(terms), False
    rest = [(t, w) for t, w in terms.items() if t not in flags]
    kept = sorted(rest, key=lambda tw: -tw[1])[:MAP_MAX_TERMS]  # stable: occurrence order
    return {**dict(kept), **flags}, True


@dataclass(frozen=True)
class SearchDocument:
    product_id: str
    terms: dict[str, int]  # term -> summed field weight
    words: dict[str, list[str]]  # term -> the surface words that produced it (vocabulary)
    name_key: str
    payload: dict[str, Any] = field(default_factory=dict)  # what each posting carries
    digest: str = ""
    shards: int = 1  # the term shards its postings are written to (``keys.search_posting``)

    def posting(self, term: str) -> dict[str, Any]:
        """One posting item. Everything but the key is one JSON attribute: a posting is read
        whole anyway, and one attribute instead of a dozen keeps it small and cheap to decode."""
        weight = self.terms[term]
        tmap, trimmed = term_map(self.terms)
        body = {"w": weight, "x": int(self.name_key == term), "nk": self.name_key, "t": tmap,
                **({"tt": 1} if trimmed else {}), **self.payload}
        return {**keys.search_posting(term, rank_value(term, weight, self.name_key), self.product_id, self.shards),
                POSTING_BODY: json.dumps(body, ensure_ascii=False, separators=(",", ":"))}

    def item(self) -> dict[str, Any]:
        # terms as one JSON string, not a map: read whole every time, decoded in one call; the
        # summary (``s``) is what a multi-word query's results show; ``ml``: its match-list
        # entries are written (``matches``)
        return {**keys.search_doc(self.product_id), "product_id": self.product_id,
                "terms": json.dumps(self.terms, ensure_ascii=False, separators=(",", ":")),
                "nk": self.name_key, "digest": self.digest, "ts": self.shards, "ml": 1,
                SUMMARY: json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"))}


def build(product: dict[str, Any]) -> SearchDocument | None:
    """The index state of a product; None when it must not be findable."""
    if not indexable(product):
        return None
    terms: dict[str, int] = {}
    words: dict[str, list[str]] = {}
    name_terms: list[str] = []
    for fld, weight in FIELD_WEIGHTS:
        if fld == CODES:
            for term, surface in code_terms(product).items():
                terms[term] = terms.get(term, 0) + weight
                words.setdefault(term, [surface])
            continue
        value = product.get(fld)
        if not value or not isinstance(value, str):
            continue
        found = text.index_terms(value[:DESCRIPTION_MAX_CHARS], keep_stopwords=fld == "name")
        if fld == "name":
            name_terms = [text.term(w) for w in text.words(value) if w not in text.STOPWORDS]
        for term, surface in found.items():
            terms[term] = terms.get(term, 0) + weight
            seen = words.setdefault(term, [])
            seen += [w for w in surface if w not in seen]
    if len(terms) > INDEX_MAX_TERMS:
        # sorted() is stable: equal weights keep the order the words occur in
        kept = dict(sorted(terms.items(), key=lambda tw: -tw[1])[:INDEX_MAX_TERMS])
        terms = {t: w for t, w in terms.items() if t in kept}
        words = {t: w for t, w in words.items() if t in kept}
    if catalog_rules.discounted(product):
        terms[SALE_TERM], words[SALE_TERM] = FLAG_WEIGHT, []
    for flag in author_terms(str(product.get("author") or "")):
        terms[flag], words[flag] = FLAG_WEIGHT, []
    nk = name_key(name_terms)
    payload = summary(product)
    # what every posting carries besides its own weight: a change rewrites them all
    body = [payload, nk, term_map(terms)]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return SearchDocument(product["product_id"], terms, words, nk, payload, digest, keys.search_term_shards())


# --- match-list entries (``matches`` reads and compacts them) --------------------------------

HASH_BYTES = 5  # of a product's name-key hash in its match-list entries


def nk_hash(name_key: str) -> bytes:
    """The hash of a product's name key an entry carries: the exact-name bonus compares it."""
    return hashlib.blake2b(name_key.encode(), digest_size=HASH_BYTES).digest()


def write_id() -> str:
    """Orders a product's fresh entries of one term: the write time, then a random tie-break."""
    return f"{time.time_ns():016x}{uuid.uuid4().hex[:4]}"


def fresh_item(term: str, product_id: str, weight: int, name_key: str, shards: int,
               written: str | None = None) -> dict[str, Any]:
    """A product's fresh entry in ``term``'s match list (weight 0: the product left the term)."""
    return {**keys.search_match_fresh(term, product_id, written or write_id(), shards), "w": weight,
            "h": nk_hash(name_key).hex()}


def stored_terms(stored: dict[str, Any] | None) -> dict[str, int]:
    """The term → weight map of a stored search document item."""
    if not stored:
        return {}
    raw = stored.get("terms") or "{}"
    return {t: int(w) for t, w in (json.loads(raw) if isinstance(raw, str) else raw).items()}


def stored_shards(stored: dict[str, Any] | None) -> int:
    """The term shards a stored search document's postings were written to: its ``ts``, or 1
    (the unsharded keys) for a document written before the sharding."""
    return int(stored.get("ts") or 1) if stored else 1


@dataclass
class Diff:
    puts: list[dict[str, Any]] = field(default_factory=list)  # postings, then the document
    deletes: list[dict[str, str]] = field(default_factory=list)
    new_words: dict[str, str] = field(default_factory=dict)  # surface word -> term
    matches: list[dict[str, Any]] = field(default_factory=list)  # fresh match-list entries

    def __iadd__(self, other: Diff) -> Diff:
        self.puts += other.puts
        self.deletes += other.deletes
        self.new_words.update(other.new_words)
        self.matches += other.matches
        return self


def diff(product_id: str, stored: dict[str, Any] | None, new: SearchDocument | None) -> Diff:
    """The writes that move the index of one product from ``stored`` (its search document
    item, or None) to ``new``: only postings whose key or payload changes are written."""
    out = Diff()
    old_terms: dict[str, int] = stored_terms(stored)
    old_nk = stored.get("nk", "") if stored else ""
    old_shards = stored_shards(stored)
    new_terms = new.terms if new else {}
    new_nk = new.name_key if new else ""
    relaid = new is not None and stored is not None and old_shards != new.shards
    payload_changed = not stored or not new or stored.get("digest") != new.digest

    def moved(term: str) -> bool:  # the posting's key changes (its rank, or the shard layout)
        return relaid or term not in old_terms or term not in new_terms or (
            rank_value(term, old_terms[term], old_nk) != rank_value(term, new_terms[term], new_nk)
        )

    listed = bool(stored and stored.get("ml"))  # its match-list entries were written
    written = write_id()
    for term, weight in old_terms.items():
        if moved(term):
            out.deletes.append(keys.search_posting(term, rank_value(term, weight, old_nk), product_id, old_shards))
        if listed and (term not in new_terms or relaid):
            out.matches.append(fresh_item(term, product_id, 0, old_nk, old_shards, written))
    if new is None:
        if stored:
            out.deletes.append(keys.search_doc(product_id))
        return out
    for term in new_terms:
        if payload_changed or moved(term):
            out.puts.append(new.posting(term))
        if term not in old_terms or relaid:  # relaid: its words move to the vocabulary's shards too
            out.new_words.update((w, term) for w in new.words[term])
        if not listed or relaid or old_terms.get(term) != new_terms[term] or old_nk != new_nk:
            out.matches.append(fresh_item(term, product_id, new_terms[term], new_nk, new.shards,
                                                  written))
    if payload_changed or relaid or old_terms != new_terms or not listed:
        out.puts.append(new.item())
    return out
