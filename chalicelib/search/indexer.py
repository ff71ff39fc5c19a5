"""Keeps the search index in step with the catalog.

The catalog calls ``apply_changes`` synchronously after it has written products (import,
deactivation, price change), so a change is searchable as soon as the call returns. One call:

1. drops pairs whose searchable fields did not change (``old`` and ``new`` index the same);
2. reads the stored search documents of the rest (BatchGetItem per 100) — the diff is against
   what *is* indexed, so a retried or partially failed earlier call heals itself;
3. writes only the postings whose key or payload changes, deletes the ones that went away,
   then the documents (BatchWriteItem per 25, unprocessed items retried with backoff);
4. adds the new surface words to the prefix vocabulary (those not known yet).

A vocabulary word is never deleted (a word no product uses any more expands to a term with no
postings: one empty Query, bounded by the expansion cap).

``rebuild`` (``python -m chalicelib.search.indexer rebuild``) re-indexes every product against
what is stored: after a change of the search write shards (``keys.py``, SEARCH section) it moves
the postings and words of products indexed under the old layout (the search document records
it) and writes nothing for the others. Safe to repeat and to run beside imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config import settings
from chalicelib.search import document, store
from chalicelib.store import keys

# (table, word) pairs this process has seen in the vocabulary: an import of many similar
# products checks each word once. Bounded; cleared when full (a miss costs one BatchGet key).
_KNOWN_WORDS: set[tuple[str, str]] = set()
_KNOWN_WORDS_MAX = 200_000


@dataclass
class IndexStats:
    products: int = 0  # distinct products in the call
    unchanged: int = 0  # skipped: nothing searchable changed
    postings_put: int = 0
    postings_deleted: int = 0
    documents_written: int = 0
    vocabulary_put: int = 0
    match_entries: int = 0  # fresh match-list entries written

    @property
    def items_written(self) -> int:
        return (self.postings_put + self.postings_deleted + self.documents_written + self.vocabulary_put
                + self.match_entries)


def _searchable(product: dict[str, Any] | None) -> Any:
    doc = document.build(product) if product else None
    return (doc.terms, doc.digest) if doc else None


def apply_changes(changes: list[tuple[dict[str, Any] | None, dict[str, Any]]]) -> IndexStats:
    """Index the (old product or None, new product) pairs in the shape of
    ``domain/catalog.py``. A product whose ``available`` is false is removed from the index."""
    latest: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {}
    for old, new in changes:
        pid = new["product_id"]
        first_old = latest[pid][0] if pid in latest else old
        latest[pid] = (first_old, new)
    stats = IndexStats(products=len(latest))
    todo = {}
    for pid, (old, new) in latest.items():
        if old is not None and _searchable(old) == _searchable(new):
            stats.unchanged += 1
        else:
            todo[pid] = new
    if not todo:
        return stats
    stored = store.get_docs(list(todo))
    total = document.Diff()
    for pid, new in todo.items():
        total += document.diff(pid, stored.get(pid), document.build(new))
    stats.documents_written = sum(1 for i in total.puts if i["SK"] == "SEARCHDOC") + sum(
        1 for k in total.deletes if k["SK"] == "SEARCHDOC"
    )
    stats.postings_put = len(total.puts) - sum(1 for i in total.puts if i["SK"] == "SEARCHDOC")
    stats.postings_deleted = len(total.deletes) - sum(1 for k in total.deletes if k["SK"] == "SEARCHDOC")
    stats.match_entries = len(total.matches)
    # the match entries first, the documents (the diff's base) last
    store.batch_write(puts=total.matches + total.puts, deletes=total.deletes)
    stats.vocabulary_put = _add_words(total.new_words)
    return stats


def _add_words(words: dict[str, str]) -> int:
    table = settings().search_table
    fresh = [w for w in words if len(w) >= 2 and (table, w) not in _KNOWN_WORDS]
    if not fresh:
        return 0
    missing = set(fresh) - store.existing_vocab(fresh)
    store.batch_write(puts=[{**keys.search_vocab(w), "word": w, "term": words[w]} for w in sorted(missing)])
    if len(_KNOWN_WORDS) + len(fresh) > _KNOWN_WORDS_MAX:
        _KNOWN_WORDS.clear()
    _KNOWN_WORDS.update((table, w) for w in fresh)
    return len(missing)


def rebuild(page: int = 100) -> IndexStats:
    """``apply_changes([(None, p)])`` over every product, read from the catalog's
    marketplace-wide listing partitions (every product item is in one; no Scan), ``page``
    products at a time. Returns the summed stats."""
    from chalicelib.store import catalog

    total = IndexStats()
    for available in (True, False):
        for sale in (False, True):
            for partition in keys.listing_partitions(keys.listing_scope_all(), available, sale):
                start = None
                while True:
                    items, start = catalog.query_listing(index="GSI1", partition=partition, forward=True,
                                                         limit=page, start=start, projection=("product_id",))
                    products = catalog.batch_get_products([str(i["product_id"]) for i in items]) if items else {}
                    if products:
                        stats = apply_changes([(None, p) for p in products.values()])
                        for name in vars(total):
                            setattr(total, name, getattr(total, name) + getattr(stats, name))
                    if start is None:
                        break
    return total


if __name__ == "__main__":  # python -m chalicelib.search.indexer rebuild
    import sys

    if sys.argv[1:] == ["rebuild"]:
        done = rebuild()
        print(f"{done.products} products re-indexed: {done.postings_put} postings written, "
              f"{done.postings_deleted} deleted, {done.vocabulary_put} vocabulary words")
