"""Writes that race: an entry write and a definition change end as if one ran before the other (no value
survives that the definition in force refuses), and the feed passes over no change whose transaction
commits late."""

import threading

import pytest
from feed_visibility import settle

from customerdata.message import changes, data_keys, entries

ENTRIES = "/api/message/customer-data/"
DATA_KEYS = "/api/message/data-keys/"
WAIT = 10  # seconds a step may take before the test gives up; nothing here sleeps


class Pause:
    """Wraps a function so that its first call stops after running, until released."""

    def __init__(self, monkeypatch, owner, name):
        self.inside, self.release = threading.Event(), threading.Event()
        original = getattr(owner, name)

        def paused(*args, **kwargs):
            result = original(*args, **kwargs)
            if not self.inside.is_set():
                self.inside.set()
                assert self.release.wait(WAIT)
            return result

        monkeypatch.setattr(owner, name, paused)


def in_thread(call):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("response", call()))
    thread.start()
    return thread, box


def test_a_definition_change_in_flight_makes_the_entry_write_wait_and_read_it(client, alice, customer,
                                                                               monkeypatch):
    pause = Pause(monkeypatch, data_keys, "_check_existing")
    definition, defined = in_thread(lambda: client.post(DATA_KEYS, json={"key": "age", "type": "integer"},
                                                        headers=alice.headers))
    assert pause.inside.wait(WAIT)  # the definition holds its key; its transaction is open
    write, written = in_thread(lambda: client.post(ENTRIES, json={"customer": customer, "key": "age",
                                                                  "value": "forty"}, headers=alice.headers))
    write.join(0.5)
    assert write.is_alive(), "the entry write went ahead of the definition change it raced"
    pause.release.set()
    definition.join(WAIT)
    write.join(WAIT)
    assert defined["response"].status_code == 201
    assert written["response"].status_code == 400
    assert written["response"].get_json() == {"value": ["A valid integer is required."]}
    assert client.get(ENTRIES, headers=alice.headers).get_json() == []


def test_an_entry_write_in_flight_is_checked_by_the_definition_change_that_waited_for_it(client, alice, customer,
                                                                                        monkeypatch):
    pause = Pause(monkeypatch, entries, "typed_columns")
    write, written = in_thread(lambda: client.post(ENTRIES, json={"customer": customer, "key": "age",
                                                                  "value": "forty"}, headers=alice.headers))
    assert pause.inside.wait(WAIT)  # validated as text, not yet committed
    definition, defined = in_thread(lambda: client.post(DATA_KEYS, json={"key": "age", "type": "integer"},
                                                        headers=alice.headers))
    definition.join(0.5)
    assert definition.is_alive(), "the definition change went ahead of the entry write it raced"
    pause.release.set()
    write.join(WAIT)
    definition.join(WAIT)
    assert written["response"].status_code == 201
    entry = written["response"].get_json()
    assert defined["response"].status_code == 409
    assert defined["response"].get_json() == {
        "detail": "1 existing value does not fit this definition.", "invalid_count": 1,
        "invalid": [{"id": entry["id"], "customer": customer, "value": "forty",
                     "errors": ["A valid integer is required."]}]}
    assert client.get(DATA_KEYS, headers=alice.headers).get_json() == []


@pytest.mark.parametrize("body", [{"value": "forty"}, {"key": "age"}], ids=["update", "rename"])
def test_an_update_racing_a_definition_change_waits_for_it(client, alice, customer, monkeypatch, body):
    created = client.post(ENTRIES, json={"customer": customer, "key": "age" if "value" in body else "note",
                                         "value": "41" if "value" in body else "forty"}, headers=alice.headers)
    assert created.status_code == 201
    pause = Pause(monkeypatch, data_keys, "_check_existing")
    definition, defined = in_thread(lambda: client.post(DATA_KEYS, json={"key": "age", "type": "integer"},
                                                        headers=alice.headers))
    assert pause.inside.wait(WAIT)
    url = f"{ENTRIES}{created.get_json()['id']}/"
    write, written = in_thread(lambda: client.patch(url, json=body, headers=alice.headers))
    write.join(0.5)
    assert write.is_alive()
    pause.release.set()
    definition.join(WAIT)
    write.join(WAIT)
    assert defined["response"].status_code == 201
    assert written["response"].status_code == 400
    assert written["response"].get_json() == {"value": ["A valid integer is required."]}


def test_a_write_racing_a_definition_delete_ends_typed_as_a_value_without_one(client, alice, customer,
                                                                              monkeypatch, typed_columns_of):
    """The delete puts back the typed columns of a value without a definition; a write of the key
    in the meantime waits for it, then writes its value as one without a definition does."""
    created = client.post(DATA_KEYS, json={"key": "n", "type": "choice", "choices": ["9", "8"]},
                          headers=alice.headers)
    assert created.status_code == 201
    entry = client.post(ENTRIES, json={"customer": customer, "key": "n", "value": "9"}, headers=alice.headers)
    assert entry.status_code == 201
    entry_id = entry.get_json()["id"]
    assert typed_columns_of("n") == {entry_id: (0.0, None, None)}  # the choice's position
    pause = Pause(monkeypatch, data_keys, "_untype_existing")
    deletion, deleted = in_thread(lambda: client.delete(f"{DATA_KEYS}{created.get_json()['id']}/",
                                                        headers=alice.headers))
    assert pause.inside.wait(WAIT)  # its values untyped, the delete not yet committed
    write, written = in_thread(lambda: client.patch(f"{ENTRIES}{entry_id}/", json={"value": "8"},
                                                    headers=alice.headers))
    write.join(0.5)
    assert write.is_alive(), "the entry write went ahead of the definition delete it raced"
    pause.release.set()
    deletion.join(WAIT)
    write.join(WAIT)
    assert deleted["response"].status_code == 200
    assert written["response"].status_code == 200 and written["response"].get_json()["value"] == "8"
    assert typed_columns_of("n") == {entry_id: (8.0, None, None)}  # not the position 1 of "8"


def follow(client, user, url):
    """Every change the feed shows from `url` on, following Link until a page is empty; the next url."""
    seen = []
    while True:
        response = client.get(url, headers=user.headers)
        assert response.status_code == 200, response.get_json()
        url = response.headers["Link"][1:].split(">")[0].removeprefix("http://localhost")
        if not response.get_json():
            return seen, url
        seen += response.get_json()


class PausedAfterFirstCall:
    """Stands in for a prepared statement: its first execution stops after running, until released."""

    def __init__(self, statement):
        self.statement = statement
        self.inside, self.release = threading.Event(), threading.Event()

    def execute(self, parameters):
        result = self.statement.execute(parameters)
        if not self.inside.is_set():
            self.inside.set()
            assert self.release.wait(WAIT)
        return result


def test_the_feed_shows_a_change_whose_transaction_commits_after_a_later_numbered_one(app, client, alice, customer,
                                                                                     monkeypatch):
    """Two overlapping writes: the first inserts its change (the lower id) and stays open; the second
    inserts and commits. On PostgreSQL the second commits first; a client following the feed then
    still sees both, exactly once each. (On SQLite the second waits for the first: writers take turns.)"""
    from customerdata.extensions import db

    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    _, url = follow(client, alice, "/api/message/changes/?after=latest")
    paused = PausedAfterFirstCall(changes.INSERT_CHANGE)
    monkeypatch.setattr(changes, "INSERT_CHANGE", paused)
    first, first_done = in_thread(lambda: client.post(ENTRIES, json={"customer": customer, "key": "first",
                                                                     "value": "1"}, headers=alice.headers))
    assert paused.inside.wait(WAIT)  # its change is inserted, its transaction open
    second, second_done = in_thread(lambda: client.post(ENTRIES, json={"customer": customer, "key": "second",
                                                                       "value": "2"}, headers=alice.headers))
    second.join(WAIT if postgresql else 0.5)
    if postgresql:
        assert second_done["response"].status_code == 201  # the later-numbered change committed first
    else:
        assert second.is_alive()  # SQLite: it waits for the first writer
    seen_meanwhile, url = follow(client, alice, url)
    assert seen_meanwhile == []  # not the second's change while the first's can still come before it
    paused.release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert first_done["response"].status_code == 201 and second_done["response"].status_code == 201
    settle(client)  # other sessions of a shared test server may hold the feed back a moment
    seen, _ = follow(client, alice, url)
    assert [(change["kind"], change["entry"]) for change in seen] == [
        ("entry.created", first_done["response"].get_json()["id"]),
        ("entry.created", second_done["response"].get_json()["id"])]
    assert seen[0]["id"] < seen[1]["id"]


def test_equality_and_unique_hold_for_values_of_1_mib(client, alice, customer):
    """Values up to 1 MiB compare through a hash any index takes, on both databases."""
    other = client.post("/api/message/customers/", json={"first_name": "Other"}, headers=alice.headers).get_json()
    assert client.post(DATA_KEYS, json={"key": "essay", "type": "text", "unique": True},
                       headers=alice.headers).status_code == 201
    essay = "é" * 1_048_575 + "!"
    created = client.post(ENTRIES, json={"customer": customer, "key": "essay", "value": essay}, headers=alice.headers)
    assert created.status_code == 201
    taken = client.post(ENTRIES, json={"customer": other["id"], "key": "essay", "value": essay}, headers=alice.headers)
    assert taken.status_code == 400
    assert taken.get_json() == {"value": ["Another customer already has this value for 'essay'."]}
    differs = essay[:-1] + "?"
    assert client.post(ENTRIES, json={"customer": other["id"], "key": "essay", "value": differs},
                       headers=alice.headers).status_code == 201
    listed = client.get(ENTRIES, query_string={"key": "essay", "value": essay}, headers=alice.headers).get_json()
    assert [entry["id"] for entry in listed] == [created.get_json()["id"]]


@pytest.mark.parametrize("method, body", [("patch", {}), ("patch", {"label": "Years"}), ("delete", None)],
                         ids=["no-op update", "update", "delete"])
def test_a_definition_deleted_while_a_write_of_it_waits_is_a_404_for_that_write(app, client, alice, monkeypatch,
                                                                                method, body):
    """Schemathesis found a 500 here: the definition was gone by the time the write held its key."""
    from customerdata.extensions import db

    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    created = client.post(DATA_KEYS, json={"key": "age", "type": "integer"}, headers=alice.headers)
    assert created.status_code == 201
    url = f"{DATA_KEYS}{created.get_json()['id']}/"
    pause = Pause(monkeypatch, data_keys, "get_definition")
    call = getattr(client, method)
    write, written = in_thread(lambda: call(url, json=body, headers=alice.headers))
    assert pause.inside.wait(WAIT)  # found, its key not yet held
    deletion, deleted = in_thread(lambda: client.delete(url, headers=alice.headers))
    deletion.join(WAIT if postgresql else 0.5)
    if postgresql:
        assert deleted["response"].status_code == 200
    else:
        assert deletion.is_alive()  # SQLite: the write took the write lock with its first read
    pause.release.set()
    write.join(WAIT)
    deletion.join(WAIT)
    statuses = written["response"].status_code, deleted["response"].status_code
    if postgresql:
        assert statuses == (404, 200)
        assert written["response"].get_json() == {"detail": "Definition not found."}
    else:
        assert statuses == ((200, 404) if method == "delete" else (200, 200))
    settle(client)
    feed = client.get("/api/message/changes/?kind=definition.deleted", headers=alice.headers)
    assert len(feed.get_json()) == 1  # one deletion recorded, not one per DELETE


class PauseBefore:
    """Wraps a method of one object so that its first call stops before running, until released."""

    def __init__(self, monkeypatch, owner, name):
        self.inside, self.release = threading.Event(), threading.Event()
        original = getattr(owner, name)

        def paused(*args, **kwargs):
            if not self.inside.is_set():
                self.inside.set()
                assert self.release.wait(WAIT)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, paused)


@pytest.mark.parametrize("resource", ["customer", "definition"])
def test_a_write_that_changes_nothing_answers_what_it_read_though_a_delete_follows(client, alice, customer,
                                                                                  monkeypatch, resource):
    """The no-op ends its transaction before the answer is built; a delete may land in between."""
    from customerdata.message import data_key_routes, routes

    if resource == "customer":
        url, body, schema = f"/api/message/customers/{customer}/", {"first_name": "Alice"}, routes.customer_schema
        assert client.patch(url, json=body, headers=alice.headers).status_code == 200
    else:
        created = client.post(DATA_KEYS, json={"key": "age", "type": "integer", "label": "Age"},
                              headers=alice.headers)
        url, body, schema = f"{DATA_KEYS}{created.get_json()['id']}/", {"label": "Age"}, data_key_routes.definition_schema
    before = client.get(url, headers=alice.headers).get_json()
    pause = PauseBefore(monkeypatch, schema, "dump")
    write, written = in_thread(lambda: client.patch(url, json=body, headers=alice.headers))
    assert pause.inside.wait(WAIT)  # the no-op's transaction is over, its answer not yet built
    assert client.delete(url, headers=alice.headers).status_code in (200, 204)
    pause.release.set()
    write.join(WAIT)
    assert written["response"].status_code == 200
    assert written["response"].get_json() == before
