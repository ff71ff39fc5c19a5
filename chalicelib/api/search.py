"""GET /search: ranked, as-you-type product search (the work is in ``chalicelib/search``)."""

from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chalicelib.api.http import CATALOG_CACHE, Ctx, endpoint
from chalicelib.api.models import Facets, Id, Limit, MinorUnits, Money, Out, Page, facet_counts, price_range, priced

bp = Blueprint(__name__)

MAX_QUERY_CHARS = 200


class SearchQuery(BaseModel):
    # Unknown parameters are a 422 naming them, like every other route's.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    q: Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS)] = Field(
        description="the words to find; the last one may be incomplete (as-you-type)"
    )
    category: Id | None = None
    seller: Id | None = None
    min_price: MinorUnits | None = None
    max_price: MinorUnits | None = None
    available: bool | None = Field(None, description="the index holds available products only: false finds none")
    on_sale: bool | None = Field(None, description="true: only products whose old price is above the price "
                                                   "(exact across the pages); false: only the others")
    author: Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS)] | None = Field(
        None, description="books whose author has every one of these words (any order, any word form)")
    facets: bool = Field(False, description="also count the matches by category, seller, price range, sale, stock")
    limit: Limit = 20
    cursor: Annotated[str, StringConstraints(max_length=1024)] | None = None

    _price_range = field_validator("max_price")(price_range)


class SearchHit(Out):
    """A product card (the shape ``GET /products`` lists), plus the relevance score."""

    product_id: str
    name: str
    price: Money
    old_price: Money | None = None
    picture: str | None = None
    seller_id: str
    category_id: str | None = None
    category_key: str | None = None
    vendor: str | None = None
    author: str | None = None
    available: bool
    description: str = Field("", description="the description's first ~200 characters, plain text")
    stock: int | None = Field(None, description="units that can be ordered now; null: the seller gives no count")
    score: int


class SearchPage(Page):
    items: list[SearchHit]
    facets: Facets | None = None


@endpoint(bp, "/search", summary="Search products (ranked, every word must match, last word as a prefix)",
          query=SearchQuery, response=SearchPage, errors=(422,), cache=CATALOG_CACHE, tags=("catalog",))
def search_products(ctx: Ctx) -> SearchPage:
    from chalicelib.search import query  # the analyser (stemmers, index reads): loaded by the first search

    p: SearchQuery = ctx.query
    items, next_cursor = query.search(p.q, category=p.category, seller=p.seller, min_price=p.min_price,
                                      max_price=p.max_price, available=p.available, on_sale=p.on_sale, author=p.author,
                                      limit=p.limit, cursor=p.cursor)
    hits = [SearchHit(**priced(i, i["currency"], "price", "old_price")) for i in items]
    counts = None
    if p.facets:
        counts = facet_counts(query.search_facets(p.q, category=p.category, seller=p.seller, min_price=p.min_price,
                                                  max_price=p.max_price, available=p.available, on_sale=p.on_sale,
                                                  author=p.author))
    return SearchPage(items=hits, next_cursor=next_cursor, facets=counts)
