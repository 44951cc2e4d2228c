"""The operator CLI (README, "Operator CLI") through app.test_cli_runner(), checked through the API."""
import re

from sqlalchemy import func, select

from customerdata.extensions import db
from customerdata.models import Customer

CUSTOMERS = "/api/message/customers/"


def cli(runner, *args, input=None):
    return runner.invoke(args=list(args), input=input)


def assert_ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def assert_refused(result, *fragments):
    """A non-zero exit with a message naming the problem, and no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment.lower() in result.output.lower(), result.output


def api_login(client, username, password):
    return client.post("/api/accounts/login", json={"username": username, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def token_for(runner, username):
    output = assert_ok(cli(runner, "users", "token", username)).strip()
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", output), output
    return output


def created_customer_id(output):
    match = re.search(r"\b(\d+)\b", output)
    assert match, output
    return int(match.group(1))


def customers_of(app, user_id):
    with app.app_context():
        query = select(func.count()).select_from(Customer).where(Customer.user_id == user_id)
        return db.session.scalar(query)


# users create

def test_users_create_with_password(runner, client):
    output = assert_ok(cli(runner, "users", "create", "carol", "--password", "carol-password-1"))
    assert "carol" in output
    response = api_login(client, "carol", "carol-password-1")
    assert response.status_code == 200
    me = client.get("/api/accounts/me", headers=bearer(response.get_json()["access"])).get_json()
    assert me["username"] == "carol" and me["email"] is None


def test_users_create_with_email(runner, client):
    assert_ok(cli(runner, "users", "create", "carol", "--password", "carol-password-1",
                  "--email", "c@example.com"))
    token = api_login(client, "carol", "carol-password-1").get_json()["access"]
    assert client.get("/api/accounts/me", headers=bearer(token)).get_json()["email"] == "c@example.com"


def test_users_create_prompts_for_the_password(runner, client):
    result = cli(runner, "users", "create", "dave", input="dave-password-1\ndave-password-1\n")
    assert_ok(result)
    assert "dave-password-1" not in result.output  # hidden input
    assert api_login(client, "dave", "dave-password-1").status_code == 200


def test_users_create_refuses_a_mismatched_confirmation(runner, client):
    result = cli(runner, "users", "create", "dave", input="dave-password-1\nother-password-1\n")
    assert result.exit_code != 0
    assert api_login(client, "dave", "dave-password-1").status_code == 401


def test_users_create_refuses_a_duplicate(runner, alice):
    for username in ("alice", "ALICE"):
        result = cli(runner, "users", "create", username, "--password", "another-password-1")
        assert_refused(result, "already exists")


def test_users_create_refuses_a_short_password(runner, client):
    result = cli(runner, "users", "create", "carol", "--password", "short")
    assert_refused(result, "at least 8 characters")
    assert api_login(client, "carol", "short").status_code == 401


def test_users_create_refuses_an_invalid_username_or_email(runner):
    assert_refused(cli(runner, "users", "create", "bad name", "--password", "long-password-1"), "username")
    assert_refused(cli(runner, "users", "create", "carol", "--password", "long-password-1",
                       "--email", "nope"),
                   "Enter a valid email address.")


# users list

def test_users_list_shows_every_user(runner, alice, bob):
    output = assert_ok(cli(runner, "users", "list"))
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 2
    assert re.search(rf"\b{alice.id}\b.*\balice\b", lines[0])
    assert re.search(rf"\b{bob.id}\b.*\bbob\b", lines[1])


def test_users_list_with_no_users(runner):
    assert assert_ok(cli(runner, "users", "list")).strip() == ""


# users token

def test_users_token_prints_a_working_access_token(runner, client, alice):
    token = token_for(runner, "alice")
    response = client.get("/api/accounts/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["id"] == alice.id
    assert client.get(CUSTOMERS, headers=bearer(token)).status_code == 200


def test_users_token_matches_the_username_regardless_of_case(runner, client, alice):
    token = token_for(runner, "ALICE")
    assert client.get("/api/accounts/me", headers=bearer(token)).get_json()["id"] == alice.id


def test_users_token_for_an_unknown_user_fails(runner):
    assert_refused(cli(runner, "users", "token", "nobody"), "nobody")


# users delete

def test_users_delete_removes_the_user_their_customers_and_their_tokens(app, runner, client, alice, bob):
    for name in ("John", "Jane"):
        assert client.post(CUSTOMERS, headers=alice.headers, json={"first_name": name}).status_code == 201
    kept = client.post(CUSTOMERS, headers=bob.headers, json={"first_name": "Bob's"}).get_json()
    cli_token = token_for(runner, "alice")
    assert customers_of(app, alice.id) == 2

    output = assert_ok(cli(runner, "users", "delete", "alice", "--yes"))
    assert "alice" in output

    assert customers_of(app, alice.id) == 0
    for token in (alice.tokens["access"], cli_token):
        response = client.get("/api/accounts/me", headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/api/accounts/refresh", headers=alice.refresh_headers).status_code == 401
    assert api_login(client, "alice", "alice-password-1").status_code == 401
    assert client.get(CUSTOMERS, headers=bob.headers).get_json() == [kept]
    assert "alice" not in assert_ok(cli(runner, "users", "list"))


def test_users_delete_asks_first(runner, client, alice):
    result = cli(runner, "users", "delete", "alice", input="n\n")
    assert result.exit_code != 0
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 200
    assert_ok(cli(runner, "users", "delete", "alice", input="y\n"))
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 401


def test_users_delete_of_an_unknown_user_fails(runner):
    assert_refused(cli(runner, "users", "delete", "nobody", "--yes"), "nobody")


def test_a_deleted_username_can_be_registered_again(runner, client, alice):
    assert_ok(cli(runner, "users", "delete", "alice", "--yes"))
    assert_ok(cli(runner, "users", "create", "alice", "--password", "new-password-1"))
    token = api_login(client, "alice", "new-password-1").get_json()["access"]
    assert client.get(CUSTOMERS, headers=bearer(token)).get_json() == []


# customers create

def test_customers_create_prints_the_id_and_the_customer_shows_in_the_api(runner, client, alice, bob):
    output = assert_ok(cli(runner, "customers", "create", "--owner", "alice", "--first-name", "John",
                           "--username", "johndoe", "--source", "instagram"))
    customer_id = created_customer_id(output)
    listed = client.get(CUSTOMERS, headers=alice.headers).get_json()
    assert [customer["id"] for customer in listed] == [customer_id]
    customer = listed[0]
    assert customer["user"] == alice.id
    assert customer["first_name"] == "John" and customer["username"] == "johndoe"
    assert customer["last_name"] is None and customer["email"] is None
    assert customer["source"] == "instagram"
    assert customer["display_name"] == "John (@johndoe) | instagram"
    assert client.get(f"{CUSTOMERS}{customer_id}/", headers=alice.headers).get_json() == customer
    assert client.get(CUSTOMERS, headers=bob.headers).get_json() == []
    assert client.get(f"{CUSTOMERS}{customer_id}/", headers=bob.headers).status_code == 404


def test_customers_create_with_every_option(runner, client, alice):
    output = assert_ok(cli(runner, "customers", "create", "--owner", "alice", "--first-name", "John",
                           "--last-name", "Doe", "--username", "jd", "--email", "john@example.com",
                           "--phone-number", "+1 555 0100", "--source", "telegram"))
    customer = client.get(f"{CUSTOMERS}{created_customer_id(output)}/", headers=alice.headers).get_json()
    assert {name: customer[name] for name in ("first_name", "last_name", "username", "email", "phone_number",
                                              "source")} == {
        "first_name": "John", "last_name": "Doe", "username": "jd", "email": "john@example.com",
        "phone_number": "+1 555 0100", "source": "telegram"}
    assert customer["created_at"] == customer["updated_at"]


def test_customers_create_defaults_to_unknown_source(runner, client, alice):
    output = assert_ok(cli(runner, "customers", "create", "--owner", "alice"))
    customer_id = created_customer_id(output)
    customer = client.get(f"{CUSTOMERS}{customer_id}/", headers=alice.headers).get_json()
    assert customer["source"] == "unknown"
    assert customer["display_name"] == f"Customer {customer_id} | unknown"


def test_customers_create_finds_the_owner_regardless_of_case(runner, client, alice):
    customer_id = created_customer_id(assert_ok(cli(runner, "customers", "create", "--owner", "ALICE",
                                                    "--first-name", "John")))
    assert client.get(f"{CUSTOMERS}{customer_id}/", headers=alice.headers).status_code == 200


def test_customers_create_refuses_a_bad_source(runner, client, alice):
    result = cli(runner, "customers", "create", "--owner", "alice", "--source", "facebook")
    assert_refused(result, "source", "facebook")
    assert client.get(CUSTOMERS, headers=alice.headers).get_json() == []


def test_customers_create_refuses_an_unknown_owner(runner):
    assert_refused(cli(runner, "customers", "create", "--owner", "nobody", "--first-name", "John"), "nobody")


def test_customers_create_needs_an_owner(runner):
    assert_refused(cli(runner, "customers", "create", "--first-name", "John"), "--owner")


def test_customers_create_validates_like_the_api(runner, client, alice):
    assert_refused(cli(runner, "customers", "create", "--owner", "alice", "--email", "nope"),
                   "Enter a valid email address.")
    assert_refused(cli(runner, "customers", "create", "--owner", "alice", "--first-name", "x" * 101),
                   "Ensure this field has no more than 100 characters.")
    assert client.get(CUSTOMERS, headers=alice.headers).get_json() == []
