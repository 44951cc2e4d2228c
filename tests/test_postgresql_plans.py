"""Which statements PostgreSQL prepares (and so soon plans once for every parameter): the hot
lookups by id, not a filtered list whose best plan depends on how many rows its owner has (one
generic plan sorted all 16,248 matches of a 200,000-entry user; docs/performance.md)."""
from customerdata.extensions import db


def prepared_statements(app):
    """The statements prepared on the pooled connections (each has its own)."""
    with app.app_context():
        connections = [db.engine.raw_connection() for _ in range(db.engine.pool.checkedin())]
        try:
            return {row[0] for connection in connections
                    for row in connection.dbapi_connection.execute("SELECT statement FROM pg_prepared_statements")}
        finally:
            for connection in connections:
                connection.close()


def test_lookups_are_prepared_and_filtered_lists_are_planned_for_their_parameters(postgresql_app):
    client = postgresql_app.test_client()
    credentials = {"username": "alice", "password": "alice-password-1"}
    assert client.post("/api/accounts/register", json=credentials).status_code == 201
    headers = {"Authorization": f"Bearer {client.post('/api/accounts/login', json=credentials).get_json()['access']}"}
    customer = client.post("/api/message/customers/", json={"first_name": "Ann"}, headers=headers).get_json()["id"]
    entry = client.post("/api/message/customer-data/", json={"customer": customer, "key": "age", "value": "41"},
                        headers=headers).get_json()["id"]
    assert client.get(f"/api/message/customer-data/{entry}/", headers=headers).status_code == 200
    assert client.get(f"/api/message/customer/{customer}/data/", headers=headers).status_code == 200
    for query in ("key=age", "search=4", "key=age&value=41&limit=5&offset=1"):
        assert client.get(f"/api/message/customer-data/?{query}", headers=headers).status_code == 200
    prepared = prepared_statements(postgresql_app)
    assert any("FROM revoked_tokens" in sql for sql in prepared)  # the token check
    assert any(sql.endswith("customer_data.id = $2::INTEGER") for sql in prepared)  # one entry
    assert any("customer_data.customer_id = $" in sql for sql in prepared)  # a customer's entries
    assert [sql for sql in prepared if "customer_data.key = $" in sql or "search_text LIKE" in sql] == []
