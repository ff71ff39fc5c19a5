def test_can_answer_health(api):
    resp = api.http.get("/health")
    assert resp.status_code == 200
    assert resp.json_body == {"status": "ok"}


def test_error_on_unknown_query_parameter_is_problem_json(api):
    resp = api.http.get("/health?x=1")
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json_body["errors"][0]["field"] == "x"
