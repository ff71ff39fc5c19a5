"""The local stack's moto speed-ups (``local/patches.py``) answer exactly what moto answers.

In-process under ``mock_aws``, through boto3: each Query runs once with the patch and once
with moto's own ``Table.query`` on the same table, and the pages must be equal; a table Query
must not read the whole table; the moto server's routing must not list its package per
request.
"""

from __future__ import annotations

import os

import boto3
import pytest
from moto import mock_aws

from local import patches

REGION = "us-east-1"


@pytest.fixture
def table():
    patches.query_reads_one_partition()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK", "G", "GS")],
            GlobalSecondaryIndexes=[{
                "IndexName": "GSI1",
                "KeySchema": [{"AttributeName": "G", "KeyType": "HASH"}, {"AttributeName": "GS", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        t = boto3.resource("dynamodb", region_name=REGION).Table("t")
        with t.batch_writer() as batch:
            for p in range(6):
                for s in range(12):
                    item = {"PK": f"p{p}", "SK": f"s{(s * 7) % 12:02d}", "n": p * 100 + s}
                    if s % 3 == 0:  # a sparse index: a third of the items carry its keys
                        item |= {"G": f"g{s % 2}", "GS": f"{(s * 5) % 12:02d}"}
                    batch.put_item(Item=item)
        yield t


def _pages(t, **kw) -> list[list[dict]]:
    pages, start = [], None
    while True:
        resp = t.query(**kw, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(resp["Items"])
        start = resp.get("LastEvaluatedKey")
        if not start:
            return pages


def _unpatched(monkeypatch):
    from moto.dynamodb.models.table import Table

    monkeypatch.setattr(Table, "query", Table.query.__wrapped__)


QUERIES = [
    {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": "p3"}},
    {"KeyConditionExpression": "PK = :pk AND SK BETWEEN :a AND :b", "ExpressionAttributeValues": {
        ":pk": "p2", ":a": "s03", ":b": "s09"}, "ScanIndexForward": False, "Limit": 2},
    {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": "nobody"}},
    {"KeyConditionExpression": "PK = :pk AND begins_with(SK, :s)", "FilterExpression": "n > :n",
     "ExpressionAttributeValues": {":pk": "p4", ":s": "s0", ":n": 403}, "Limit": 3},
    {"IndexName": "GSI1", "KeyConditionExpression": "G = :g", "ExpressionAttributeValues": {":g": "g0"}, "Limit": 4},
    {"IndexName": "GSI1", "KeyConditionExpression": "G = :g AND GS < :lt", "ExpressionAttributeValues": {
        ":g": "g1", ":lt": "09"}, "ScanIndexForward": False, "Limit": 5},
]


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_a_query_answers_what_moto_answers(table, monkeypatch, query):
    patched = _pages(table, **query)
    _unpatched(monkeypatch)
    assert patched == _pages(table, **query)
    assert sum(map(len, patched)) > 0 or query["ExpressionAttributeValues"][":pk"] == "nobody"


def test_a_table_query_reads_only_its_partition(table, monkeypatch):
    from moto.dynamodb.models.table import Table

    def whole_table(self):
        raise AssertionError("the Query read the whole table")

    monkeypatch.setattr(Table, "all_items", whole_table)
    items = table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": "p1"})["Items"]
    assert [i["SK"] for i in items] == [f"s{s:02d}" for s in range(12)]


def test_the_moto_server_routes_without_listing_its_package(monkeypatch):
    from moto import backends

    patches.server_knows_its_services()
    assert "dynamodb" in backends.list_of_moto_modules()

    def listdir(path):
        raise AssertionError(f"listed {path}")

    monkeypatch.setattr(os, "listdir", listdir)
    assert "s3" in backends.list_of_moto_modules()


def test_workflow_tasks_share_one_client_per_service_and_region():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    patches.workflow_tasks_share_clients()
    with mock_aws():
        first = lambda_eval_utils.boto_client_for(region=REGION, service="lambda")
        again = lambda_eval_utils.boto_client_for(region=REGION, service="lambda", state_credentials=object())
        other = lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda")
        assert first is again
        assert other is not first and other.meta.region_name == "eu-west-1"
        assert first.meta.service_model.service_name == "lambda"


def test_a_moto_failure_in_process_is_a_500_that_botocore_retries(table, monkeypatch):
    from botocore.config import Config
    from moto.dynamodb.models import DynamoDBBackend

    patches.in_process_failures_are_500s()
    original, calls = DynamoDBBackend.get_item, []

    def get_item(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("dictionary changed size during iteration")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "get_item", get_item)
    retrying = Config(retries={"mode": "standard", "max_attempts": 3})
    client = boto3.client("dynamodb", region_name=REGION, config=retrying)
    item = client.get_item(TableName="t", Key={"PK": {"S": "p1"}, "SK": {"S": "s01"}})["Item"]
    assert item["n"] == {"N": "107"} and len(calls) == 2  # s01 is the 8th item put (7 * 7 % 12)


RICH_ITEM = {
    "PK": {"S": "rich"}, "SK": {"S": "r"}, "n": {"N": "-12.50"}, "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"x", b"\x01"]},
    "yes": {"BOOL": True}, "no": {"BOOL": False}, "nothing": {"NULL": True}, "empty": {"S": ""},
    "m": {"M": {"inner": {"M": {"deep": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"in a list"}]}}}, "e": {"M": {}}}},
    "l": {"L": [{"M": {"k": {"BOOL": False}}}, {"L": []}, {"SS": ["z"]}]},
}


def _rich_and_plain_items():
    """A client of the table holding ``RICH_ITEM`` and a copy without its binary values."""
    client = boto3.client("dynamodb", region_name=REGION)
    client.put_item(TableName="t", Item=RICH_ITEM)
    client.put_item(TableName="t", Item={k: v for k, v in RICH_ITEM.items() if "B" not in v and "BS" not in v}
                    | {"SK": {"S": "plain"}})
    return client


def _get_and_query_rich(client):
    return [
        client.get_item(TableName="t", Key={"PK": {"S": "rich"}, "SK": {"S": "r"}})["Item"],
        client.query(TableName="t", KeyConditionExpression="PK = :p",
                     ExpressionAttributeValues={":p": {"S": "rich"}})["Items"],
    ]


def test_items_read_back_as_moto_serializes_them(table, monkeypatch):
    from moto.core.serialize import BaseJSONSerializer

    patches.attribute_values_serialize_directly()
    client = _rich_and_plain_items()

    def reads():
        return [
            *_get_and_query_rich(client),
            client.update_item(TableName="t", Key={"PK": {"S": "rich"}, "SK": {"S": "plain"}},
                               UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "-12.50"}},
                               ReturnValues="ALL_OLD")["Attributes"],
        ]

    patched = reads()
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure",
                        BaseJSONSerializer._serialize_type_structure.__wrapped__)
    assert patched == reads()
    assert patched[0] == RICH_ITEM and patched[1][1] == RICH_ITEM
    assert patched[2]["m"] == RICH_ITEM["m"] and "b" not in patched[2]


def test_answers_parse_to_what_botocore_makes_of_them(table, monkeypatch):
    from botocore.parsers import BaseJSONParser

    patches.attribute_values_parse_directly()
    client = _rich_and_plain_items()

    def reads():
        return [
            *_get_and_query_rich(client),
            client.batch_get_item(RequestItems={"t": {"Keys": [{"PK": {"S": "rich"}, "SK": {"S": "plain"}}]}})
            ["Responses"]["t"],
        ]

    patched = reads()
    monkeypatch.setattr(BaseJSONParser, "_handle_structure", BaseJSONParser._handle_structure.__wrapped__)
    assert patched == reads()
    assert patched[0] == RICH_ITEM and RICH_ITEM in patched[1] and patched[2][0]["m"] == RICH_ITEM["m"]


def test_a_plain_answer_is_parsed_without_walking_the_model(table, monkeypatch):
    from botocore.parsers import ResponseParser

    patches.attribute_values_parse_directly()
    client = boto3.client("dynamodb", region_name=REGION)
    client.put_item(TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": "s"}, "m": {"M": {"l": {"L": [{"N": "1"}]}}}})
    original = ResponseParser._parse_shape

    def parse_shape(self, shape, node):
        if shape.name.endswith("AttributeValue") and shape.name != "AttributeValue":
            raise AssertionError(f"walked the model for {shape.name}")
        return original(self, shape, node)

    monkeypatch.setattr(ResponseParser, "_parse_shape", parse_shape)
    item = client.get_item(TableName="t", Key={"PK": {"S": "p"}, "SK": {"S": "s"}})["Item"]
    assert item["m"] == {"M": {"l": {"L": [{"N": "1"}]}}}


def test_a_plain_item_is_serialized_without_walking_the_model(table, monkeypatch):
    from moto.core import serialize

    patches.attribute_values_serialize_directly()
    client = boto3.client("dynamodb", region_name=REGION)
    client.put_item(TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": "s"}, "m": {"M": {"l": {"L": [{"N": "1"}]}}}})

    original = serialize.AttributePicker.get_possible_keys

    def picker(self, context):
        if context.key in ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"):
            raise AssertionError(f"walked the model for {context.key}")
        return original(self, context)

    monkeypatch.setattr(serialize.AttributePicker, "get_possible_keys", picker)
    item = client.get_item(TableName="t", Key={"PK": {"S": "p"}, "SK": {"S": "s"}})["Item"]
    assert item["m"] == {"M": {"l": {"L": [{"N": "1"}]}}}


UPDATES = [
    "SET " + ", ".join(f"a{i} = :v" for i in range(30)) + " ADD c :one REMOVE r1, r2",
    "SET a = list_append(if_not_exists(a, :empty), :l), b = :v ADD c :one, s :set",
    "ADD c :one SET a = :v ADD d :one",
    "REMOVE r1 ADD c :one REMOVE r2 ADD d :one",
    "SET a = :v REMOVE r1 SET b = :v",
    "SET a = :v, a = :v",
    "SET a = :v REMOVE a",
    "SET m.x = :v, b = :v, m.x.y = :v",
    "SET a = :v, b = list_append(if_not_exists(b, :empty), :l), c = :v ADD c :one",
    "SET a = :v, b = :v REMOVE b ADD a :one",
    "SET p.q = :v, p = :v",
]


def _update_outcome(t, expression):
    try:
        t.update_item(Key={"PK": "u", "SK": "u"}, UpdateExpression=expression, ReturnValues="ALL_NEW",
                      ExpressionAttributeValues={k: v for k, v in {
                          ":v": "x", ":one": 1, ":empty": [], ":l": ["y"], ":set": {"z"}}.items() if k in expression})
    except t.meta.client.exceptions.ClientError as exc:
        return exc.response["Error"]
    return t.get_item(Key={"PK": "u", "SK": "u"})["Item"]


@pytest.mark.parametrize("expression", UPDATES, ids=range(len(UPDATES)))
def test_an_update_expression_is_validated_as_moto_validates_it(table, monkeypatch, expression):
    from moto.dynamodb.parsing import ast_nodes
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator, Validator

    patches.update_expressions_validate_in_linear_time()
    patches.update_expressions_copy_directly()
    patches.update_expressions_parse_once()
    # twice: a new item, then the same (cached) tree on the item the first call made
    patched = [_update_outcome(table, expression), _update_outcome(table, expression)]
    table.delete_item(Key={"PK": "u", "SK": "u"})
    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(UpdateExpressionParser.make.__wrapped__))
    monkeypatch.setattr(Validator, "__init__", Validator.__init__.__wrapped__)
    monkeypatch.setattr(ActionCountValidator, "verify_action_counts",
                        ActionCountValidator.verify_action_counts.__wrapped__)
    monkeypatch.setattr(OverlappingPathsValidator, "check_for_overlapping_paths",
                        OverlappingPathsValidator.check_for_overlapping_paths.__wrapped__)
    walk = ast_nodes.DepthFirstTraverser
    for name in ("nodes_to_be_processed", "traverse_node_recursively"):
        monkeypatch.setattr(walk, name, getattr(walk, name).__wrapped__)
    assert patched == [_update_outcome(table, expression), _update_outcome(table, expression)]


def test_overlapping_paths_are_checked_once_per_update(table, monkeypatch):
    from moto.dynamodb.parsing import validators

    patches.update_expressions_validate_in_linear_time()
    checked = []
    original = validators.find_path_overlaps

    def counting(paths):
        checked.append(paths)
        return original(paths)

    monkeypatch.setattr(validators, "find_path_overlaps", counting)
    assert _update_outcome(table, UPDATES[0])["a29"] == "x"
    assert 0 < len(checked) <= 2  # the whole tree, per validation
    monkeypatch.setattr(validators.OverlappingPathsValidator, "check_for_overlapping_paths",
                        validators.OverlappingPathsValidator.check_for_overlapping_paths.__wrapped__)
    checked.clear()
    _update_outcome(table, UPDATES[0])
    assert len(checked) > 30  # moto's own: at every clause, action, path and value


def test_an_update_expression_is_tokenized_once(table, monkeypatch):
    from moto.dynamodb.parsing import expressions

    patches.update_expressions_copy_directly()
    patches.update_expressions_parse_once()
    seen = []
    original = expressions.ExpressionTokenizer.make_list

    def make_list(expression):
        seen.append(expression)
        return original(expression)

    monkeypatch.setattr(expressions.ExpressionTokenizer, "make_list", staticmethod(make_list))
    expression = "SET once_only = :v ADD c :one"
    for _ in range(3):
        outcome = _update_outcome(table, expression)
    assert outcome["once_only"] == "x" and outcome["c"] == 3
    assert seen.count(expression) <= 1  # moto's own: twice per call


def test_clauses_are_counted_once_per_update(table, monkeypatch):
    from moto.dynamodb.parsing import ast_nodes
    from moto.dynamodb.parsing.validators import ActionCountValidator

    patches.update_expressions_validate_in_linear_time()
    collected = []
    original = ast_nodes.Node.find_clauses

    def find_clauses(self, clause_types):
        if ast_nodes.UpdateExpressionAddClause in clause_types:
            collected.append(1)
        return original(self, clause_types)

    monkeypatch.setattr(ast_nodes.Node, "find_clauses", find_clauses)
    assert _update_outcome(table, UPDATES[0])["a29"] == "x"
    assert collected == []  # moto's own check collects them again at each of the 30 nested nodes
    monkeypatch.setattr(ActionCountValidator, "verify_action_counts",
                        ActionCountValidator.verify_action_counts.__wrapped__)
    _update_outcome(table, UPDATES[0])
    assert len(collected) > 30


def test_workflow_paths_are_parsed_once_and_read_as_before(monkeypatch):
    from moto.stepfunctions.parser.asl.utils import json_path

    patches.workflow_paths_parse_once()
    data = {"order_id": "o1", "lines": [{"q": 1}, {"q": 2}], "result": {"ok": True}}
    paths = ["$.order_id", "$.lines[*].q", "$.lines[1]", "$.result.ok", "$"]
    patched = [json_path.extract_json(p, data) for p in paths]
    hits = json_path.parse.cache_info().hits
    for p in paths:
        json_path.extract_json(p, data)
    assert json_path.parse.cache_info().hits == hits + len(paths)  # no path parsed again
    parses, original = [], json_path.parse.__wrapped__
    monkeypatch.setattr(json_path, "parse", lambda p: parses.append(p) or original(p))
    assert patched == [json_path.extract_json(p, data) for p in paths] == ["o1", [1, 2], {"q": 2}, True, data]
    assert parses == paths


def test_actions_are_found_without_listing_the_handler_class_per_call(table, monkeypatch):
    import inspect

    patches.actions_are_looked_up_once_per_class()
    table.get_item(Key={"PK": "p1", "SK": "s01"})  # the class's list is made at its first call

    def getmembers(*args, **kwargs):
        raise AssertionError("listed the handler class again")

    monkeypatch.setattr(inspect, "getmembers", getmembers)
    assert table.get_item(Key={"PK": "p1", "SK": "s01"})["Item"]["n"] == 107
    assert table.query(KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": "p0"})["Count"] == 12


def _shape(node, parent=None):
    """A node's type, attributes and children, with each parent link checked."""
    from moto.dynamodb.parsing.ast_nodes import Node

    assert node.parent is parent
    attrs = {k: v for k, v in vars(node).items() if k not in ("parent", "children")}
    children = None if node.children is None else [
        _shape(c, node) if isinstance(c, Node) else c for c in node.children]
    return type(node), attrs, children


@pytest.mark.parametrize("expression", UPDATES, ids=range(len(UPDATES)))
def test_a_parsed_update_expression_is_copied_as_deepcopy_copies_it(expression):
    import copy

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    tree = UpdateExpressionParser.make(expression)
    copied = patches.copy_update_ast(tree)
    assert _shape(copied) == _shape(copy.deepcopy(tree)) == _shape(tree)

    def nodes(root):
        found, todo = [], [root]
        while todo:
            node = todo.pop()
            found.append(node)
            todo += [c for c in node.children or [] if hasattr(c, "children")]
        return found

    assert not {id(n) for n in nodes(copied)} & {id(n) for n in nodes(tree)}  # nothing shared


def test_user_pools_share_one_parse_of_the_signing_key_and_their_tokens_verify(monkeypatch):
    import jwt
    from moto.cognitoidp import models

    patches.user_pools_share_their_signing_key()
    parses, original = [], models.jwk.__wrapped__.RSAKey.import_key
    monkeypatch.setattr(models.jwk.__wrapped__.RSAKey, "import_key",
                        staticmethod(lambda *a, **kw: parses.append(1) or original(*a, **kw)))
    public = models.load_resource("cognitoidp/resources/jwks-public.json")
    key = jwt.PyJWK(public["keys"][0]).key
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name=REGION)
        for n in range(3):
            pool = idp.create_user_pool(PoolName=f"p{n}")["UserPool"]["Id"]
            client = idp.create_user_pool_client(UserPoolId=pool, ClientName="c",
                                                 ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"])["UserPoolClient"]["ClientId"]
            idp.admin_create_user(UserPoolId=pool, Username="u", TemporaryPassword="Passw0rd!x")
            idp.admin_set_user_password(UserPoolId=pool, Username="u", Password="Passw0rd!x", Permanent=True)
            token = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_NO_SRP_AUTH",
                                            AuthParameters={"USERNAME": "u", "PASSWORD": "Passw0rd!x"}
                                            )["AuthenticationResult"]["AccessToken"]
            assert jwt.decode(token, key, algorithms=["RS256"])["iss"].endswith(pool)
    assert len(parses) <= 1  # none if an earlier test in this process parsed it already


# --- the dev server's header parsing ------------------------------------------------------------

HEADER_BLOCKS = [
    b"Host: localhost:8000\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n",
    b"Authorization: Bearer a.b.c\r\nX-Empty:\r\nX-Spaces:   \t padded  \r\nIdempotency-Key: k\r\n\r\n",
    b"Host: x\nAccept: */*\n\n",  # bare LF line ends
    b"X-Folded: first\r\n second line\r\nHost: x\r\n\r\n",  # obsolete line folding
    b"From nobody\r\nHost: x\r\n\r\n",  # an mbox "From " line
    b"Host: x\r\nnot a header line\r\nAccept: */*\r\n\r\n",  # ends the headers, rest is body
    b"Host: x\r\nX-Cr: a\rb\r\n\r\n",  # a stray CR splits the line for the email parser
    b": no name\r\nHost: x\r\n\r\n",
    b"X-Latin: caf\xe9\r\nHost: x\r\n\r\n",
    b"Host: x\r\n",  # the connection closed before the blank line
    b"",
]


def _parsed(parse, block: bytes):
    import http.client
    import io

    message = parse(io.BytesIO(block + b"BODY"), _class=http.client.HTTPMessage)
    return (type(message), message.items(), message.get_payload(), [type(d) for d in message.defects],
            message.get_all("Host"))


@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_headers_parse_directly_to_what_the_email_parser_gives(block):
    import http.client

    original = getattr(http.client.parse_headers, "__wrapped__", http.client.parse_headers)
    assert _parsed(patches.parse_headers_directly, block) == _parsed(original, block)


def test_plain_headers_skip_the_email_parser(monkeypatch):
    import email.parser
    import io

    def refuse(*args, **kwargs):
        raise AssertionError("the email parser was used for plain headers")

    monkeypatch.setattr(email.parser.Parser, "parsestr", refuse)
    message = patches.parse_headers_directly(io.BytesIO(HEADER_BLOCKS[0]))
    assert message["content-length"] == "12" and message.get_content_type() == "application/json"


# --- attribute values: copies and sizes ---------------------------------------------------------

def _values():
    from moto.dynamodb.models.dynamo_type import DynamoType

    odd = {"S": "ünïcode ✓"}
    return [DynamoType(v) for v in (*RICH_ITEM.values(), odd, {"N": "1e5"}, {"BS": ["YWJj"]}, {"NULL": True},
                                    {"M": {"ключ": {"L": [{"SS": ["x", "yy"]}, {"NS": ["10", "-2.5"]}]}}})]


def test_values_copy_as_deepcopy_copies_them():
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType

    patches.attribute_values_copy_directly()
    for value in _values():
        mine, theirs = copy.deepcopy(value), DynamoType.__deepcopy__.__wrapped__(value, {})
        assert mine == theirs == value and mine.to_json() == theirs.to_json()
        if value.type in ("L", "M"):
            members = list(mine.value.values()) if value.type == "M" else mine.value
            originals = list(value.value.values()) if value.type == "M" else value.value
            assert all(a is not b for a, b in zip(members, originals, strict=True))  # a copy, not a view
            first = members[0]
            first.type, first.value = "S", "changed"
            assert (list(value.value.values()) if value.type == "M" else value.value)[0].value != "changed"


def test_values_turn_to_json_as_moto_turns_them():
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    patches.attribute_values_copy_directly()
    for value in _values():
        assert value.to_regular_json() == DynamoType.to_regular_json.__wrapped__(value)
    item = Item(DynamoType({"S": "h"}), DynamoType({"S": "r"}), {k: v for k, v in RICH_ITEM.items()})
    assert item.to_json()["Attributes"] == RICH_ITEM  # binary values decoded, as boto3 sent them


def test_value_sizes_add_up_as_moto_adds_them():
    from moto.dynamodb.models.dynamo_type import DynamoType

    patches.attribute_sizes_add_up_directly()
    for value in _values():
        assert value.size() == DynamoType.size.__wrapped__(value) >= 0


def test_an_item_over_the_size_limit_is_still_refused(table):
    client = boto3.client("dynamodb", region_name=REGION)
    patches.attribute_sizes_add_up_directly()
    big = {"M": {f"k{i}": {"S": "x" * 1000} for i in range(420)}}
    with pytest.raises(client.exceptions.ClientError, match="Item size"):
        client.put_item(TableName="t", Item={"PK": {"S": "big"}, "SK": {"S": "b"}, "m": big})
