"""Names shared by the Lambda handlers and the infrastructure definitions.

The Lambda package holds only ``app.py`` and ``chalicelib/``, so names a handler's decorator
needs live here; ``infra/resources.py`` re-exports them for the template and the local stack.
"""

API_FUNCTION = "api_handler"  # Chalice's name for the function behind API Gateway
IMPORT_FUNCTION = "import_feed"
WORKFLOW_FUNCTION = "order_workflow"
RETURN_WORKFLOW_FUNCTION = "return_workflow"
RECONCILE_FUNCTION = "reconcile_orders"
RECONCILE_RATE_MINUTES = 1
FETCH_FEEDS_FUNCTION = "fetch_feeds"
FETCH_FEEDS_RATE_MINUTES = 5  # a source is due hourly or daily; this is how late it may start

# Chalice's ``on_sqs_message`` needs a queue name at import time. The deploy template
# replaces the event source with the ARN of its own queue (``infra/template.py``), and the
# local stack names its queue after the prefix, so this name only labels the event source.
IMPORT_QUEUE_NAME = "marketplace-feed-imports"
