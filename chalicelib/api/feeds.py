"""Seller feed routes: get an upload URL, follow imports and read their reports.

The upload itself goes straight to S3 under ``feeds/<seller>/<feed_id>/``: a presigned PUT, or
(``"method": "POST"``) a presigned form POST whose policy makes S3 refuse a file over
``FEED_MAX_BYTES``; the bucket notifies the import queue and ``services/feed_import.py`` does the rest.
"""

from typing import Annotated, Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from chalicelib.api.http import Ctx, Reply, endpoint
from chalicelib.api.models import Body, Limit, Out, Page
from chalicelib.lazy import lazy
from chalicelib.store.pagination import decode_cursor, encode_cursor

feeds = lazy("chalicelib.services.feeds")

bp = Blueprint(__name__)


class FeedUploadIn(Body):
    filename: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # a multipart form to upload_url, `fields` first, the file last (S3 refuses more than
    # `max_bytes`); the unbounded presigned PUT of earlier versions is retired
    method: Literal["POST"] = "POST"
    dry_run: bool = False  # check the file and write the report; the catalog is not touched


class FeedUpload(Out):
    feed_id: str
    upload_url: str
    expires_at: str
    method: str = "POST"
    fields: dict[str, str]  # the form fields, in this order, before the file
    max_bytes: int  # the largest file S3 accepts


class FeedCounts(Out):
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    deactivated: int = 0


class FeedRowError(Out):
    row: int | None = None
    offer_id: str | None = None
    field: str | None = None
    reason: str


class FeedProgress(Out):
    phase: str  # validating | checking (dry run) | writing | finishing | done
    rows_read: int = 0  # rows parsed so far
    rows_written: int = 0  # valid offers stored (or found unchanged) so far


class FeedImport(Out):
    feed_id: str
    filename: str | None = None
    status: str  # queued | processing | succeeded | partially_succeeded | failed | unchanged
    source: str | None = None  # upload (presigned URL) | drop (a file put in the bucket) | url (fetched)
    reason: str | None = None
    counts: FeedCounts
    errors: list[FeedRowError]
    report_url: str | None = None
    report_csv_url: str | None = None  # the same report as CSV (also GET /seller/feeds/{id}/report.csv)
    progress: FeedProgress | None = None  # while it runs: put on the record every 2000 rows or 2 s
    dry_run: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    note: str | None = None


class FeedListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    limit: Limit = 20
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None


class FeedImportPage(Page):
    items: list[FeedImport]


@endpoint(bp, "/seller/feeds", method="POST", summary="Get a presigned, size-limited form to upload a feed",
          auth=("seller",), body=FeedUploadIn, response=FeedUpload, status=201, errors=(401, 403, 409, 422, 429),
          location=lambda body: f"/seller/feeds/{body['feed_id']}", tags=("feeds",), limit="feed_upload")
def create_feed_upload(ctx: Ctx) -> FeedUpload:
    return FeedUpload(**feeds.create_upload(ctx.user.user_id, ctx.body.filename, dry_run=ctx.body.dry_run))


@endpoint(bp, "/seller/feeds", summary="My feed imports, newest first", auth=("seller",), query=FeedListQuery,
          response=FeedImportPage, errors=(401, 403, 422), tags=("feeds",))
def list_feed_imports(ctx: Ctx) -> FeedImportPage:
    items, last = feeds.list_imports(ctx.user.user_id, ctx.query.limit, decode_cursor(ctx.query.cursor))
    return FeedImportPage(items=[FeedImport(**i) for i in items], next_cursor=encode_cursor(last))


@endpoint(bp, "/seller/feeds/{feed_id}", summary="One feed import: status, counts, first errors, report URL",
          auth=("seller",), response=FeedImport, errors=(401, 403, 404), owner_scoped=True, tags=("feeds",))
def get_feed_import(ctx: Ctx, feed_id: str) -> FeedImport:
    return FeedImport(**feeds.get_import(ctx.user.user_id, feed_id))


@endpoint(bp, "/seller/feeds/{feed_id}/report.csv", summary="The import's row report as CSV (a redirect to it)",
          auth=("seller",), status=302, errors=(401, 403, 404), owner_scoped=True, tags=("feeds",))
def get_feed_report_csv(ctx: Ctx, feed_id: str) -> Response:
    return Response(body="", status_code=302, headers={"Location": feeds.report_csv_url(ctx.user.user_id, feed_id)})


# --- a feed URL the marketplace fetches (SPEC "Seller feeds at scale") --------------------------


class FeedSourceIn(Body):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048, strip_whitespace=True)]
    schedule: Literal["hourly", "daily"]


class FeedSource(Out):
    url: str
    schedule: str
    next_fetch_at: str | None = None
    last_fetched_at: str | None = None
    last_status: str | None = None  # fetched | unchanged | failed
    last_error: str | None = None
    last_feed_id: str | None = None
    failures: int = 0  # failed fetches in a row
    created_at: str | None = None
    updated_at: str | None = None


class FeedFetchStarted(Out):
    feed_id: str


@endpoint(bp, "/seller/feed-source", method="PUT", summary="Set the URL the marketplace fetches my feed from",
          auth=("seller",), body=FeedSourceIn, response=FeedSource, errors=(401, 403, 409, 422), tags=("feeds",))
def put_feed_source(ctx: Ctx) -> FeedSource:
    from chalicelib.services import feed_sources  # with the URL fetcher: loaded by the feed-source routes only

    return FeedSource(**feed_sources.set_source(ctx.user.user_id, ctx.body.url, ctx.body.schedule))


@endpoint(bp, "/seller/feed-source", summary="My feed URL and how its last fetch went", auth=("seller",),
          response=FeedSource, errors=(401, 403, 404), tags=("feeds",))
def get_feed_source(ctx: Ctx) -> FeedSource:
    from chalicelib.services import feed_sources

    return FeedSource(**feed_sources.get_source(ctx.user.user_id))


@endpoint(bp, "/seller/feed-source", method="DELETE", summary="Stop fetching my feed by URL", auth=("seller",),
          status=204, errors=(401, 403, 404), tags=("feeds",))
def delete_feed_source(ctx: Ctx) -> Reply:
    from chalicelib.services import feed_sources

    feed_sources.delete_source(ctx.user.user_id)
    return Reply(status=204)


@endpoint(bp, "/seller/feed-source/fetch", method="POST", summary="Fetch my feed now; follow the import by its id",
          auth=("seller",), response=FeedFetchStarted, status=202, errors=(401, 403, 404), body_required=False,
          tags=("feeds",))
def fetch_feed_source(ctx: Ctx) -> FeedFetchStarted:
    from chalicelib.services import feed_sources

    return FeedFetchStarted(feed_id=feed_sources.fetch_now(ctx.user.user_id))
