def test_can_answer_health(api):
    resp = api.http.get("/health")
    assert resp.status_code == 200
    assert resp.json_body == {"status": "ok"}


def test_error_on_unknown_query_parameter_is_problem_json(api):
    resp = api.http.get("/health?x=1")
    assert resp.status_code == 422
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json_body["errors"][0]["field"] == "x"


def test_error_on_wrong_content_type_is_problem_json(api):
    resp = api.http.post("/auth/login", body=b"email=a&password=b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json_body["errors"][0]["field"] == "Content-Type"


def test_json_with_charset_is_accepted(api):
    resp = api.http.post("/auth/login", body=b'{"email": "nobody@example.com", "password": "x"}',
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 401


def test_error_on_a_method_the_path_does_not_have_is_problem_json(api):
    resp = api.http.delete("/products")
    assert resp.status_code == 405
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.headers["Allow"] == "GET"
    assert resp.json_body["status"] == 405 and "DELETE" in resp.json_body["detail"]
