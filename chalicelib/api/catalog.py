"""Public catalog routes: product listing, the product page, category trees."""

from typing import Annotated, Any, Literal

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from chalicelib.api.http import CATALOG_CACHE, Ctx, endpoint
from chalicelib.api.models import (
    BlockIn,
    DeliveryMethod,
    Facets,
    Id,
    Limit,
    MinorUnits,
    Money,
    Out,
    Page,
    facet_counts,
    price_range,
)
from chalicelib.lazy import lazy

catalog = lazy("chalicelib.services.catalog")

bp = Blueprint(__name__)

Cursor = Annotated[str, StringConstraints(max_length=2048)]


class ProductQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    category: Id | None = Field(None, description="a category id from GET /categories")
    seller: Id | None = None
    min_price: MinorUnits | None = None
    max_price: MinorUnits | None = None
    available: bool | None = None
    on_sale: bool | None = Field(None, description="true: only products whose old price is above the price; "
                                                   "false: only the others")
    sort: Literal["price", "-price", "name", "newest"] = "newest"
    facets: bool = Field(False, description="also count the products by category, seller, price range, sale, stock")
    limit: Limit = 20
    cursor: Cursor | None = None

    _price_range = field_validator("max_price")(price_range)


class CategoryRef(Out):
    id: str
    name: str


class ProductCard(Out):
    product_id: str
    name: str
    price: Money
    old_price: Money | None = None
    available: bool
    seller_id: str
    category: CategoryRef | None = None
    picture: str | None = None
    vendor: str | None = None
    author: str | None = None
    year: int | None = None
    description: str = Field("", description="the description's first ~200 characters, plain text")
    stock: int | None = Field(None, description="units that can be ordered now; null: the seller gives no count")
    created_at: str | None = None


class ProductPage(Page):
    items: list[ProductCard]
    facets: Facets | None = None


class Param(Out):
    name: str
    unit: str | None = None
    value: str


class SellerRef(Out):
    id: str
    name: str


class ProductCategory(Out):
    id: str
    feed_id: str
    name: str


class Product(Out):
    product_id: str
    offer_id: str
    offer_type: str | None = None
    name: str
    description: str = ""
    price: Money
    old_price: Money | None = None
    category: ProductCategory | None = None
    pictures: list[str] = []
    vendor: str | None = None
    model: str | None = None
    vendor_code: str | None = None
    url: str | None = None
    barcodes: list[str] = []
    author: str | None = Field(None, description="book fields (YML book offers, CSV columns)")
    publisher: str | None = None
    year: int | None = None
    isbn: str | None = None
    params: list[Param] = []
    attributes: dict[str, str] = {}
    available: bool
    stock: int | None = None
    seller: SellerRef
    delivery_methods: list[DeliveryMethod]
    created_at: str | None = None
    updated_at: str | None = None


class CategoryNode(Out):
    id: str
    feed_id: str
    name: str
    children: "list[CategoryNode]" = []


class SellerCategories(Out):
    seller: SellerRef
    categories: list[CategoryNode]


class CategoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)
    seller: Id | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class CategoriesPage(Page):
    items: list[SellerCategories]


@endpoint(bp, "/products", summary="Browse products: filters, sorts, cursor pagination", query=ProductQuery,
          response=ProductPage, errors=(422,), cache=CATALOG_CACHE, tags=("catalog",))
def list_products(ctx: Ctx) -> ProductPage:
    q: ProductQuery = ctx.query
    items, next_cursor = catalog.list_products(
        category=q.category, seller=q.seller, min_price=q.min_price, max_price=q.max_price,
        available=q.available, on_sale=q.on_sale, sort=q.sort, limit=q.limit, cursor=q.cursor,
    )
    counts = None
    if q.facets:
        counts = facet_counts(catalog.listing_facets(category=q.category, seller=q.seller, min_price=q.min_price,
                                                     max_price=q.max_price, available=q.available, on_sale=q.on_sale))
    return ProductPage(items=[ProductCard(**i) for i in items], next_cursor=next_cursor, facets=counts)


@endpoint(bp, "/products/{product_id}", summary="The product page: the feed's data, the seller, delivery methods",
          response=Product, errors=(404,), cache=CATALOG_CACHE, tags=("catalog",))
def get_product(ctx: Ctx, product_id: str) -> Any:
    return Product(**catalog.get_product(product_id))


@endpoint(bp, "/categories", summary="Category trees, grouped per seller", query=CategoryQuery,
          response=CategoriesPage, errors=(422,), cache=CATALOG_CACHE, tags=("catalog",))
def list_categories(ctx: Ctx) -> CategoriesPage:
    q: CategoryQuery = ctx.query
    groups, next_cursor = catalog.list_categories(seller=q.seller, limit=q.limit, cursor=q.cursor)
    return CategoriesPage(items=[SellerCategories(**g) for g in groups], next_cursor=next_cursor)


class ProductBlock(Out):
    product_id: str
    seller_id: str
    name: str
    blocked: bool


@endpoint(bp, "/admin/products/{product_id}/blocked", method="PUT",
          summary="Block or unblock one product (admin, catalog operator; audited): hidden from listings, search, "
                  "its page, carts and checkout",
          auth=("admin", "catalog_operator"), body=BlockIn, response=ProductBlock, errors=(401, 403, 404, 422),
          tags=("admin",))
def block_product(ctx: Ctx, product_id: str) -> ProductBlock:
    from chalicelib.services import admin  # staff actions are audited there

    return ProductBlock(**admin.block_product(ctx.user, product_id, ctx.body.blocked))
