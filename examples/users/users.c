/* users -- an in-memory users resource behind portico: route params, JSON
 * bodies and status codes.
 *
 * Build: ninja -C build (examples/users/users)
 * Run:   build/examples/users/users [--redis redis://127.0.0.1:6379] [--prefix portico]
 *        (or set PORTICO_REDIS); it prints "users ready" once registered.
 * Routes:
 *   GET    /users        200 {"users":[{"id":"1","name":"Ada","email":"..."}]}
 *   POST   /users        {"name":"Ada","email":"ada@example.org"} -> 201 the user
 *   GET    /users/{id}   200 the user, 404 when missing
 *   PUT    /users/{id}   {"name":...,"email":...} -> 200 the user, 404 when missing
 *   DELETE /users/{id}   204, 404 when missing
 * A body that is not a JSON object with a string "name" gets 400 bad_json /
 * bad_user. Nothing is persisted: the data lives as long as the process. */
#include <stdio.h>
#include <string.h>

#include "example.h"

struct store {
    json_t *users; /* id -> user object */
    long next_id;
};

/* Validates a request body; returns a new user object without "id", or
 * replies 400 and returns NULL. */
static json_t *user_from_body(portico_request *req)
{
    json_t *body = portico_request_json(req), *user;
    const char *name, *email;

    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        portico_reply_error(req, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    name = json_string_value(json_object_get(body, "name"));
    email = json_string_value(json_object_get(body, "email"));
    if (name == NULL || name[0] == '\0' ||
        (json_object_get(body, "email") != NULL && email == NULL)) {
        json_decref(body);
        portico_reply_error(req, 400, "bad_user",
                            "\"name\" must be a non-empty string, \"email\" a string");
        return NULL;
    }
    user = json_pack("{s:s, s:s}", "name", name, "email", email ? email : "");
    json_decref(body);
    return user;
}

static json_t *find(struct store *st, portico_request *req)
{
    json_t *user = json_object_get(st->users, portico_request_param(req, "id"));

    if (user == NULL) portico_reply_error(req, 404, "not_found", "no such user");
    return user;
}

static void on_list(portico_request *req, void *ud)
{
    struct store *st = ud;
    json_t *list = json_array(), *user;
    const char *id;

    json_object_foreach(st->users, id, user) json_array_append(list, user);
    portico_reply_json(req, 200, json_pack("{s:o}", "users", list));
}

static void on_create(portico_request *req, void *ud)
{
    struct store *st = ud;
    json_t *user = user_from_body(req);
    char id[32];

    if (user == NULL) return;
    snprintf(id, sizeof id, "%ld", ++st->next_id);
    json_object_set_new(user, "id", json_string(id));
    json_object_set(st->users, id, user);
    portico_reply_json(req, 201, user);
}

static void on_get(portico_request *req, void *ud)
{
    json_t *user = find(ud, req);

    if (user != NULL) portico_reply_json(req, 200, json_incref(user));
}

static void on_update(portico_request *req, void *ud)
{
    json_t *user, *fresh;

    if ((user = find(ud, req)) == NULL) return;
    if ((fresh = user_from_body(req)) == NULL) return;
    json_object_update(user, fresh);
    json_decref(fresh);
    portico_reply_json(req, 200, json_incref(user));
}

static void on_delete(portico_request *req, void *ud)
{
    struct store *st = ud;

    if (find(st, req) == NULL) return;
    json_object_del(st->users, portico_request_param(req, "id"));
    portico_reply(req, 204, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
    struct example ex;
    struct store st = {json_object(), 0};
    int rc;

    if (example_init(&ex, argc, argv, "users") != 0) return 2;
    if (portico_service_route(ex.svc, "GET", "/users", on_list, &st) != 0 ||
        portico_service_route(ex.svc, "POST", "/users", on_create, &st) != 0 ||
        portico_service_route(ex.svc, "GET", "/users/{id}", on_get, &st) != 0 ||
        portico_service_route(ex.svc, "PUT", "/users/{id}", on_update, &st) != 0 ||
        portico_service_route(ex.svc, "DELETE", "/users/{id}", on_delete, &st) != 0)
        return 1;
    rc = example_run(&ex);
    json_decref(st.users);
    return rc;
}
