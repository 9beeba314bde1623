"""GET /objects/risk: the grades as JSON and as CSV a spreadsheet or a double-random inspection
system reads, a department's own objects, and bad formats."""

from __future__ import annotations

import csv
import io

from tests.api.conftest import Api

PLANT = "91610115MA6W123458"


def test_objects_by_risk_as_json_and_csv(api: Api, market_alert: int) -> None:
    [plant] = api.call("operator", "GET", "/objects/risk").json()
    assert (plant["credit_code"], plant["name"], plant["grade"]) == (PLANT, "西安骊山冷链物流有限公司", "B")
    assert plant["unconfirmed"] >= 1 and plant["score"] >= 5  # a class-1 finding not yet judged: 10 x 0.5
    assert plant["reasons"][0]["rule"] == "coldstore-gas-high"

    answer = api.call("admin", "GET", "/objects/risk", params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith('attachment; filename="object-risk-')
    assert answer.content.startswith("\ufeff".encode())  # spreadsheets read the names as UTF-8
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["credit_code"], r["name"], r["grade"], r["label"]) for r in rows] == [
        (PLANT, "西安骊山冷链物流有限公司", "B", "一般风险")
    ]
    assert float(rows[0]["score"]) == plant["score"] and rows[0]["last_finding"].endswith("+08:00")
    assert "燃气" in rows[0]["reasons"] or "气体" in rows[0]["reasons"], rows[0]["reasons"]


def test_a_department_sees_the_objects_its_clues_name(api: Api, market_alert: int, hall_alert: int) -> None:
    assert [o["credit_code"] for o in api.call("market", "GET", "/objects/risk").json()] == [PLANT]
    assert api.call("hall", "GET", "/objects/risk").json() == []
    assert api.call("edge", "GET", "/objects/risk").status_code == 403
    answer = api.call("operator", "GET", "/objects/risk", params={"format": "xlsx"})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "format"]
