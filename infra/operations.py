"""What an operator needs to run the stack: log groups with retention, access and execution
logs, alarms to one SNS topic, a dashboard, the SES configuration set that publishes bounces
and complaints, and the data-safety rules of the feeds bucket.

Every alarm is listed in ``ALARMS`` (name → metric, statistic, threshold, why) so the template,
the runbook (``docs/runbook.md``) and the tests read one table. Thresholds are for a small
marketplace; change them here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra import resources as res

METRICS_NAMESPACE = "Marketplace"
LOG_RETENTION_DAYS = 30  # the parameter's default
FEED_FILES_EXPIRE_DAYS = 30  # a feed is a snapshot; the next one replaces it
REPORTS_EXPIRE_DAYS = 90
API_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "method": "$context.httpMethod",
    "path": "$context.resourcePath", "status": "$context.status", "bytes": "$context.responseLength",
    "latencyMs": "$context.responseLatency", "integrationMs": "$context.integrationLatency",
    "userAgent": "$context.identity.userAgent", "xrayTraceId": "$context.xrayTraceId",
}, separators=(",", ":"))


@dataclass(frozen=True)
class Alarm:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, Any], ...]
    statistic: str  # Sum, Average, Maximum, or pNN (extended)
    threshold: float
    why: str
    period: int = 300
    periods: int = 1
    comparison: str = "GreaterThanOrEqualToThreshold"


def _fn_dims(names: Any, chalice_name: str) -> tuple[tuple[str, Any], ...]:
    return (("FunctionName", names.function(chalice_name)),)


def alarms(names: Any) -> dict[str, Alarm]:
    api_dims = (("ApiName", names.api_name),)
    machine_dims = (("StateMachineArn", names.state_machine_arn),)
    out = {
        "ImportDeadLettersAlarm": Alarm(
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            (("QueueName", f"{names.prefix}-{res.IMPORT_QUEUE_SUFFIX}-dlq"),), "Maximum", 1,
            "a feed import failed every retry and is parked (runbook: draining the dead-letter queue)"),
        "Api5xxRateAlarm": Alarm(
            "AWS/ApiGateway", "5XXError", api_dims, "Average", 0.01,
            "more than 1% of API requests answered 5xx for 10 minutes", periods=2),
        "ApiLatencyP99Alarm": Alarm(
            "AWS/ApiGateway", "Latency", api_dims, "p99", 3000,
            "the slowest 1% of API requests took over 3 s for 15 minutes", periods=3),
        "WorkflowFailedAlarm": Alarm(
            "AWS/States", "ExecutionsFailed", machine_dims, "Sum", 1,
            "an order workflow ended in Failed (compensation ran; check the order's timeline)"),
        "ReturnWorkflowFailedAlarm": Alarm(
            "AWS/States", "ExecutionsFailed", (("StateMachineArn", names.return_state_machine_arn),), "Sum", 1,
            "a return workflow ended in Failed (the return stays undecided; the reconciler accepts it when overdue)"),
        "WorkflowTimedOutAlarm": Alarm(
            "AWS/States", "ExecutionsTimedOut", machine_dims, "Sum", 1,
            "an order workflow hit its own time limit (should never happen: every wait has a timeout)"),
        "EmailBounceRateAlarm": Alarm(
            "AWS/SES", "Reputation.BounceRate", (), "Maximum", 0.05,
            "bounces above 5% put the SES account under review (AWS pauses sending near 10%)"),
        "EmailComplaintRateAlarm": Alarm(
            "AWS/SES", "Reputation.ComplaintRate", (), "Maximum", 0.001,
            "complaints above 0.1% put the SES account under review (AWS pauses sending near 0.5%)"),
    }
    for chalice_name, spec in res.FUNCTIONS.items():
        out[f"{spec['logical_id']}ErrorsAlarm"] = Alarm(
            "AWS/Lambda", "Errors", _fn_dims(names, chalice_name), "Sum", 1,
            f"the {chalice_name} function raised (a failed request, import or workflow step)")
        out[f"{spec['logical_id']}ThrottlesAlarm"] = Alarm(
            "AWS/Lambda", "Throttles", _fn_dims(names, chalice_name), "Sum", 1,
            f"the {chalice_name} function was throttled (account or reserved concurrency reached)")
    return out


def _alarm_resource(name: str, alarm: Alarm) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": alarm.why,
        "Namespace": alarm.namespace,
        "MetricName": alarm.metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in alarm.dimensions],
        "Period": alarm.period,
        "EvaluationPeriods": alarm.periods,
        "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlarmTopicArn"}],
        "OKActions": [{"Ref": "AlarmTopicArn"}],
    }
    if alarm.statistic.startswith("p"):
        props["ExtendedStatistic"] = alarm.statistic
    else:
        props["Statistic"] = alarm.statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def log_groups(names: Any) -> dict[str, Any]:
    """One per function (named as Lambda names it, so the function writes into it), the API's
    access log and the workflow's execution log, each kept ``LogRetentionDays``."""
    out: dict[str, Any] = {}
    retention = {"Ref": "LogRetentionDays"}
    for chalice_name, spec in res.FUNCTIONS.items():
        out[f"{spec['logical_id']}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{names.function(chalice_name)}",
                           "RetentionInDays": retention},
        }
    out["ApiAccessLogGroup"] = {"Type": "AWS::Logs::LogGroup",
                                "Properties": {"LogGroupName": f"/aws/apigateway/{names.prefix}-access",
                                               "RetentionInDays": retention}}
    out["WorkflowLogGroup"] = {"Type": "AWS::Logs::LogGroup",
                               "Properties": {"LogGroupName": f"/aws/vendedlogs/states/{names.state_machine}",
                                              "RetentionInDays": retention}}
    # not "ReturnWorkflowLogGroup": that is the return_workflow function's (its logical id + LogGroup)
    out["ReturnStateMachineLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": f"/aws/vendedlogs/states/{names.return_state_machine}",
                       "RetentionInDays": retention}}
    return out


def email_events(names: Any) -> dict[str, Any]:
    """The configuration set every email is sent with: SES publishes sends, deliveries,
    bounces and complaints to CloudWatch (the dashboard and the reputation alarms)."""
    return {
        "EmailConfigurationSet": {"Type": "AWS::SES::ConfigurationSet",
                                  "Properties": {"Name": names.configuration_set}},
        "EmailEventsToCloudWatch": {
            "Type": "AWS::SES::ConfigurationSetEventDestination",
            "Properties": {
                "ConfigurationSetName": {"Ref": "EmailConfigurationSet"},
                "EventDestination": {
                    "Name": "cloudwatch",
                    "Enabled": True,
                    "MatchingEventTypes": ["send", "delivery", "bounce", "complaint", "reject"],
                    "CloudWatchDestination": {"DimensionConfigurations": [{
                        "DimensionName": "kind", "DimensionValueSource": "messageTag", "DefaultDimensionValue": "other",
                    }]},
                },
            },
        },
    }


def bucket_rules() -> dict[str, Any]:
    """Merged into the feeds bucket: old feed files and reports expire."""
    return {
        "LifecycleConfiguration": {"Rules": [
            {"Id": "feed-files", "Status": "Enabled", "Prefix": res.FEEDS_PREFIX,
             "ExpirationInDays": FEED_FILES_EXPIRE_DAYS,
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
            {"Id": "import-reports", "Status": "Enabled", "Prefix": res.REPORTS_PREFIX,
             "ExpirationInDays": REPORTS_EXPIRE_DAYS},
            # a big feed's chunk files are read only while it imports
            {"Id": "import-chunks", "Status": "Enabled", "Prefix": res.CHUNKS_PREFIX, "ExpirationInDays": 2},
        ]},
    }


def bucket_policy(names: Any) -> dict[str, Any]:
    """Refuse every request to the feeds bucket that does not come over TLS."""
    return {"FeedsBucketPolicy": {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "FeedsBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [names.bucket_arn(), names.bucket_arn("/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }]},
        },
    }}


def dashboard(names: Any) -> dict[str, Any]:
    """One dashboard: the business counters (embedded metrics in ``METRICS_NAMESPACE``) and the
    technical health of the API, functions, workflow, queue and email."""
    def metric_widget(title: str, metrics: list[list[Any]], stat: str = "Sum", y: int = 0, x: int = 0) -> dict:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "metrics": metrics, "stat": stat, "period": 300,
                               "region": "${AWS::Region}", "view": "timeSeries"}}

    ns = METRICS_NAMESPACE
    widgets = [
        metric_widget("Orders", [[ns, m, "service", res.APP_NAME] for m in
                                 ("OrdersPlaced", "OrdersPaid", "OrdersConfirmed", "OrdersCancelled",
                                  "OrdersExpired")]),
        metric_widget("Money and imports", [[ns, m, "service", res.APP_NAME] for m in
                                            ("TopUps", "ImportRowsCreated", "ImportRowsUpdated", "ImportRowsRejected")],
                      x=12),
        metric_widget("API", [["AWS/ApiGateway", "Count", "ApiName", names.api_name],
                              ["AWS/ApiGateway", "5XXError", "ApiName", names.api_name],
                              ["AWS/ApiGateway", "4XXError", "ApiName", names.api_name]], y=6),
        metric_widget("API latency p99 (ms)", [["AWS/ApiGateway", "Latency", "ApiName", names.api_name]],
                      stat="p99", y=6, x=12),
        metric_widget("Function errors and throttles",
                      [["AWS/Lambda", m, "FunctionName", names.function(fn)]
                       for fn in res.FUNCTIONS for m in ("Errors", "Throttles")], y=12),
        metric_widget("Order workflow", [["AWS/States", m, "StateMachineArn", names.state_machine_arn_text]
                                         for m in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                                                   "ExecutionsTimedOut")], y=12, x=12),
        metric_widget("Return workflow", [["AWS/States", m, "StateMachineArn", names.return_state_machine_arn_text]
                                          for m in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")],
                      y=24),
        metric_widget("Email", [[ns, "EmailsSent", "service", res.APP_NAME], [ns, "EmailsFailed", "service",
                                                                               res.APP_NAME],
                                ["AWS/SES", "Reputation.BounceRate"], ["AWS/SES", "Reputation.ComplaintRate"]], y=18),
        metric_widget("Import dead letters", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                               f"{names.prefix}-{res.IMPORT_QUEUE_SUFFIX}-dlq"]], stat="Maximum",
                      y=18, x=12),
    ]
    body = json.dumps({"widgets": widgets})
    return {"OperationsDashboard": {"Type": "AWS::CloudWatch::Dashboard",
                                    "Properties": {"DashboardName": f"{names.prefix}-operations",
                                                   "DashboardBody": {"Fn::Sub": body}}}}


def resources(names: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out.update(log_groups(names))
    out.update(email_events(names))
    out.update(bucket_policy(names))
    out.update(dashboard(names))
    out.update({name: _alarm_resource(name, alarm) for name, alarm in alarms(names).items()})
    return out


PARAMETERS = {
    "AlarmTopicArn": {
        "Type": "String",
        "Description": "The SNS topic every alarm notifies (create it and subscribe the on-call first)",
        "AllowedPattern": r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$",
    },
    "LogRetentionDays": {
        "Type": "Number",
        "Description": "Days the functions', the API's and the workflow's logs are kept",
        "Default": LOG_RETENTION_DAYS,
        "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653],
    },
}
