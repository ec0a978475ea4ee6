#!/usr/bin/env python3
"""Writes the wire decoder cases in this directory (tests/unit/data/wire).

Layout: <kind>/{valid,invalid}/NAME.json, kind in register, reply, request.
  NAME.reason  (invalid) the expected pc_wire_err.reason
  NAME.expect  (valid)   "field=value" lines checked by tests/unit/test_wire.c
Register cases assume the prefix "portico". Some cases are too big to write
by hand (too_large, routes_1000, routes_1001): rerun this script after
editing it rather than editing those files.
"""
import os, json
base = os.path.dirname(os.path.abspath(__file__))
def w(kind, valid, name, text, reason=None, expect=None):
    d = os.path.join(base, kind, 'valid' if valid else 'invalid')
    os.makedirs(d, exist_ok=True)
    mode = 'wb' if isinstance(text, bytes) else 'w'
    with open(os.path.join(d, name + '.json'), mode) as f:
        f.write(text if isinstance(text, bytes) else text + '\n')
    if reason:
        with open(os.path.join(d, name + '.reason'), 'w') as f:
            f.write(reason + '\n')
    if expect:
        with open(os.path.join(d, name + '.expect'), 'w') as f:
            for k, v in expect:
                f.write('%s=%s\n' % (k, v))

# ------------------------------------------------------------------ register
R = 'register'
def reg(**over):
    m = {"v": 1, "type": "register", "service": "users", "instance": "users-1",
         "channel": "portico:svc:users-1", "routes": [{"method": "GET", "path": "/users"}]}
    for k, v in over.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return json.dumps(m)

w(R, True, 'spec_example', '''{"v":1, "type":"register", "service":"users", "instance":"users-1b4e28ba",
 "channel":"portico:svc:users-1b4e28ba", "ttl_ms":10000, "timeout_ms":5000,
 "ts_ms":1763772345678,
 "routes":[{"method":"GET","path":"/users"}, {"method":"POST","path":"/users"},
           {"method":"GET","path":"/users/{id}"}, {"method":"*","path":"/files/*"}]}''',
  expect=[('type', 'register'), ('service', 'users'), ('instance', 'users-1b4e28ba'),
          ('channel', 'portico:svc:users-1b4e28ba'), ('ttl_ms', 10000), ('timeout_ms', 5000),
          ('has_ts', 1), ('ts_ms', 1763772345678), ('nroutes', 4),
          ('route.0.method', 'GET'), ('route.0.path', '/users'),
          ('route.2.path', '/users/{id}'), ('route.3.method', '*'), ('route.3.path', '/files/*')])
w(R, True, 'minimal', reg(), expect=[('ttl_ms', 10000), ('timeout_ms', 0), ('has_ts', 0), ('nroutes', 1),
                                     ('wire', 1)])
w(R, True, 'wire_2', reg(wire=2), expect=[('wire', 2)])
w(R, True, 'wire_1', reg(wire=1), expect=[('wire', 1)])
w(R, False, 'wire_3', reg(wire=3), 'bad_field')
w(R, False, 'wire_string', reg(wire="2"), 'bad_field')
w(R, True, 'clamp_low', reg(ttl_ms=5, timeout_ms=0), expect=[('ttl_ms', 1000), ('timeout_ms', 1)])
w(R, True, 'clamp_high', reg(ttl_ms=99999999999, timeout_ms=999999),
  expect=[('ttl_ms', 300000), ('timeout_ms', 60000)])
w(R, True, 'clamp_negative', reg(ttl_ms=-1, timeout_ms=-5000), expect=[('ttl_ms', 1000), ('timeout_ms', 1)])
w(R, True, 'deregister', '{"v":1,"type":"deregister","service":"users","instance":"users-1b4e28ba"}',
  expect=[('type', 'deregister'), ('service', 'users'), ('instance', 'users-1b4e28ba'), ('nroutes', 0), ('has_ts', 0)])
w(R, True, 'deregister_ts', '{"v":1,"type":"deregister","service":"users","instance":"users-1","ts_ms":1763772345678}',
  expect=[('type', 'deregister'), ('has_ts', 1), ('ts_ms', 1763772345678)])
w(R, True, 'deregister_ignores_routes',
  '{"v":1,"type":"deregister","service":"users","instance":"users-1","routes":"whatever","channel":7}',
  expect=[('type', 'deregister'), ('nroutes', 0)])
w(R, True, 'unknown_fields', reg(x_future={"a": [1, 2, {"b": None}]}, weight=3,
                                 routes=[{"method": "GET", "path": "/users", "auth": "none"}]),
  expect=[('nroutes', 1), ('route.0.path', '/users')])
w(R, True, 'routes_1000', reg(routes=[{"method": "GET", "path": "/r/%d" % i} for i in range(1000)]),
  expect=[('nroutes', 1000), ('route.999.path', '/r/999')])
w(R, True, 'root_and_methods', reg(routes=[{"method": "PURGE", "path": "/"},
                                           {"method": "M-SEARCH", "path": "/caf\u00e9/{x_1}/*"}]),
  expect=[('route.0.method', 'PURGE'), ('route.0.path', '/'), ('route.1.path', '/caf\u00e9/{x_1}/*')])
w(R, True, 'instance_colons', reg(instance="host.example:8080:A_b-1", channel="portico:svc:host.example:8080:A_b-1"),
  expect=[('instance', 'host.example:8080:A_b-1')])
w(R, True, 'service_63', reg(service="a" + "b" * 61 + "9"), expect=[('service', "a" + "b" * 61 + "9")])
w(R, True, 'whitespace', '\n  { "v" : 1 , "type" : "register" , "service" : "s" , "instance" : "i" ,'
  ' "channel" : "portico:svc:i" , "routes" : [ { "method" : "GET" , "path" : "/" } ] }  \n',
  expect=[('service', 's'), ('instance', 'i')])

w(R, False, 'not_json', '{"v":1,"type":"register","service":"users"', 'not_json')
w(R, False, 'empty', b'', 'not_json')
w(R, False, 'not_object', '["register"]', 'not_json')
w(R, False, 'trailing_garbage', reg() + ' {}', 'not_json')
w(R, False, 'duplicate_key', '{"v":1,"type":"register","service":"users","service":"admin","instance":"users-1",'
  '"channel":"portico:svc:users-1","routes":[{"method":"GET","path":"/users"}]}', 'not_json')
w(R, False, 'invalid_utf8', reg(service="users").replace('"users"', '"us\udcffers"').encode('utf-8', 'surrogateescape'), 'not_json')
w(R, False, 'too_large', reg(pad="x" * (64 * 1024)), 'too_large')
w(R, False, 'too_deep', reg(x=json.loads('[' * 40 + ']' * 40)), 'too_deep')
w(R, False, 'version_2', reg(v=2), 'bad_version')
w(R, False, 'version_missing', reg(v=None), 'bad_version')
w(R, False, 'version_string', reg(v="1"), 'bad_version')
w(R, False, 'version_real', reg().replace('"v": 1', '"v": 1.0'), 'bad_version')
w(R, False, 'type_discover', reg(type="discover"), 'bad_type')
w(R, False, 'type_missing', reg(type=None), 'bad_type')
w(R, False, 'type_case', reg(type="Register"), 'bad_type')
w(R, False, 'service_upper', reg(service="Users"), 'bad_service')
w(R, False, 'service_64', reg(service="a" * 64), 'bad_service')
w(R, False, 'service_number', reg(service=42), 'bad_service')
w(R, False, 'service_missing', reg(service=None), 'bad_service')
w(R, False, 'service_leading_dash', reg(service="-users"), 'bad_service')
w(R, False, 'service_nul', reg(service="users\u0000x"), 'bad_service')
w(R, False, 'instance_slash', reg(instance="users/1", channel="portico:svc:users/1"), 'bad_instance')
w(R, False, 'instance_empty', reg(instance="", channel="portico:svc:"), 'bad_instance')
w(R, False, 'instance_129', reg(instance="i" * 129, channel="portico:svc:" + "i" * 129), 'bad_instance')
w(R, False, 'channel_other_instance', reg(channel="portico:svc:users-2"), 'bad_channel')
w(R, False, 'channel_reply', reg(channel="portico:reply:0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"), 'bad_channel')
w(R, False, 'channel_other_prefix', reg(channel="other:svc:users-1"), 'bad_channel')
w(R, False, 'channel_suffix', reg(channel="portico:svc:users-1:x"), 'bad_channel')
w(R, False, 'channel_missing', reg(channel=None), 'bad_channel')
w(R, False, 'channel_nul', reg(channel="portico:svc:users-1\u0000"), 'bad_channel')
w(R, False, 'route_no_slash', reg(routes=[{"method": "GET", "path": "/ok"}, {"method": "GET", "path": "users"}]), 'bad_route')
w(R, False, 'route_star_middle', reg(routes=[{"method": "GET", "path": "/files/*/x"}]), 'bad_route')
w(R, False, 'route_dup_param', reg(routes=[{"method": "GET", "path": "/u/{id}/{id}"}]), 'bad_route')
w(R, False, 'route_dot_segment', reg(routes=[{"method": "GET", "path": "/a/../b"}]), 'bad_route')
w(R, False, 'route_lower_method', reg(routes=[{"method": "get", "path": "/users"}]), 'bad_route')
w(R, False, 'route_method_space', reg(routes=[{"method": "GET POST", "path": "/users"}]), 'bad_route')
w(R, False, 'route_not_object', reg(routes=["GET /users"]), 'bad_route')
w(R, False, 'route_path_missing', reg(routes=[{"method": "GET"}]), 'bad_route')
w(R, False, 'route_path_number', reg(routes=[{"method": "GET", "path": 5}]), 'bad_route')
w(R, False, 'routes_empty', reg(routes=[]), 'bad_route')
w(R, False, 'route_retry_string', reg(routes=[{"method": "GET", "path": "/u", "retry": "yes"}]), 'bad_route')
w(R, False, 'route_retry_number', reg(routes=[{"method": "GET", "path": "/u", "retry": 1}]), 'bad_route')
w(R, False, 'route_retry_null', reg(routes=[{"method": "GET", "path": "/u", "retry": None}]), 'bad_route')
w(R, True, 'route_retry', reg(routes=[{"method": "GET", "path": "/u", "retry": True},
                                      {"method": "POST", "path": "/u", "retry": False}]),
  expect=[('nroutes', 2), ('route.0.method', 'GET'), ('route.1.method', 'POST')])
w(R, False, 'route_async_string', reg(routes=[{"method": "POST", "path": "/u", "async": "true"}]), 'bad_route')
w(R, False, 'route_async_number', reg(routes=[{"method": "POST", "path": "/u", "async": 1}]), 'bad_route')
w(R, False, 'route_async_null', reg(routes=[{"method": "POST", "path": "/u", "async": None}]), 'bad_route')
w(R, True, 'route_async', reg(routes=[{"method": "POST", "path": "/u", "async": True},
                                      {"method": "GET", "path": "/u", "async": False},
                                      {"method": "PUT", "path": "/u"}]),
  expect=[('nroutes', 3), ('route.0.async', 1), ('route.1.async', 0), ('route.2.async', 0)])
w(R, False, 'routes_not_array', reg(routes={"method": "GET", "path": "/users"}), 'bad_field')
w(R, False, 'routes_missing', reg(routes=None), 'bad_field')
w(R, False, 'routes_1001', reg(routes=[{"method": "GET", "path": "/r/%d" % i} for i in range(1001)]), 'too_many_routes')
w(R, False, 'ttl_string', reg(ttl_ms="10000"), 'bad_field')
w(R, False, 'ttl_real', reg(ttl_ms=1000.5), 'bad_field')
w(R, False, 'ttl_null', reg(ttl_ms=None).replace('"v": 1', '"v": 1, "ttl_ms": null'), 'bad_field')
w(R, False, 'timeout_string', reg(timeout_ms="5s"), 'bad_field')
w(R, False, 'ts_string', reg(ts_ms="1763772345678"), 'bad_field')
w(R, False, 'deregister_bad_instance', '{"v":1,"type":"deregister","service":"users","instance":"a b"}', 'bad_instance')
w(R, False, 'deregister_no_service', '{"v":1,"type":"deregister","instance":"users-1"}', 'bad_service')

# --------------------------------------------------------------------- reply
P = 'reply'
ID = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"
def rep(**over):
    m = {"v": 1, "id": ID, "status": 200}
    for k, v in over.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return json.dumps(m)

w(P, True, 'spec_example', '{"v":1, "id":"%s", "status":200, "headers":[["content-type","application/json"]],\n'
  ' "body":"{\\"id\\":\\"42\\"}"}' % ID,
  expect=[('id', ID), ('status', 200), ('nheaders', 1), ('header.0.name', 'content-type'),
          ('header.0.value', 'application/json'), ('body', '{"id":"42"}')])
w(P, True, 'minimal', rep(status=204), expect=[('status', 204), ('nheaders', 0), ('body_len', 0)])
w(P, True, 'status_599', rep(status=599), expect=[('status', 599)])
w(P, True, 'base64_body', rep(body="aGVsbG8=", body_encoding="base64"), expect=[('body', 'hello'), ('body_len', 5)])
w(P, True, 'base64_empty', rep(body="", body_encoding="base64"), expect=[('body_len', 0)])
w(P, True, 'body_empty', rep(body=""), expect=[('body_len', 0)])
w(P, True, 'body_nul', rep(body="a\u0000b"), expect=[('body_len', 3)])
w(P, True, 'body_unicode', rep(body="caf\u00e9 \U0001F600"), expect=[('body', 'caf\u00e9 \U0001F600')])
w(P, True, 'headers_empty', rep(headers=[]), expect=[('nheaders', 0)])
w(P, True, 'headers_repeated', rep(headers=[["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-empty", ""],
                                            ["X-Tab", "a\tb"], ["x-latin", "caf\u00e9"]]),
  expect=[('nheaders', 5), ('header.1.value', 'b=2'), ('header.3.name', 'X-Tab')])
w(P, True, 'unknown_fields', rep(trace={"span": [1, 2]}, status=201), expect=[('status', 201)])
w(P, True, 'id_not_uuid', rep(id="anything"), expect=[('id', 'anything')])

w(P, False, 'not_json', '{"v":1,"id":"%s","status":200' % ID, 'not_json')
w(P, False, 'array_root', '[1,2]', 'not_json')
w(P, False, 'too_deep', rep(x=json.loads('[' * 40 + ']' * 40)), 'too_deep')
w(P, False, 'no_id', rep(id=None), 'no_id')
w(P, False, 'id_number', rep(id=42), 'no_id')
w(P, False, 'version_missing', rep(v=None), 'bad_version')
w(P, False, 'status_99', rep(status=99), 'bad_status')
w(P, False, 'status_199', rep(status=199), 'bad_status')
w(P, False, 'status_600', rep(status=600), 'bad_status')
w(P, False, 'status_string', rep(status="200"), 'bad_status')
w(P, False, 'status_real', rep().replace('"status": 200', '"status": 200.0'), 'bad_status')
w(P, False, 'status_missing', rep(status=None), 'bad_status')
w(P, False, 'header_crlf', rep(headers=[["x-a", "b\r\nset-cookie: evil=1"]]), 'bad_header')
w(P, False, 'header_lf', rep(headers=[["x-a", "b\nc"]]), 'bad_header')
w(P, False, 'header_nul', rep(headers=[["x-a", "b\u0000c"]]), 'bad_header')
w(P, False, 'header_bad_name', rep(headers=[["bad name", "v"]]), 'bad_header')
w(P, False, 'header_name_colon', rep(headers=[["x-a:", "v"]]), 'bad_header')
w(P, False, 'header_empty_name', rep(headers=[["", "v"]]), 'bad_header')
w(P, False, 'header_triple', rep(headers=[["a", "b", "c"]]), 'bad_header')
w(P, False, 'header_number', rep(headers=[["a", 1]]), 'bad_header')
w(P, False, 'headers_object', rep(headers={"a": "b"}), 'bad_header')
w(P, False, 'body_encoding_hex', rep(body="6869", body_encoding="hex"), 'bad_body')
w(P, False, 'body_encoding_null', rep(body="aGk=").replace('}', ', "body_encoding": null}'), 'bad_body')
w(P, False, 'base64_invalid', rep(body="aGk", body_encoding="base64"), 'bad_body')
w(P, False, 'base64_pad_bits', rep(body="aGl=", body_encoding="base64"), 'bad_body')
w(P, False, 'base64_space', rep(body="aGk= ", body_encoding="base64"), 'bad_body')
w(P, False, 'body_number', rep(body=42), 'bad_body')
w(P, False, 'body_null', rep().replace('}', ', "body": null}'), 'bad_body')

# streamed replies (protocol.md 4.3)
w(P, True, 'stream_first', rep(more=True, headers=[["content-type", "text/event-stream"]]),
  expect=[('status', 200), ('more', 'true'), ('seq', 0), ('nheaders', 1)])
w(P, True, 'stream_first_seq0', rep(more=True, seq=0, body="a"), expect=[('more', 'true'), ('seq', 0), ('body', 'a')])
w(P, True, 'stream_more_false', rep(more=False), expect=[('more', 'false'), ('status', 200)])
w(P, True, 'stream_next', rep(status=None, seq=1, more=True, body="data: 1\n\n"),
  expect=[('status', 0), ('seq', 1), ('more', 'true'), ('body_len', 9)])
w(P, True, 'stream_last', rep(status=None, seq=9007199254740991, more=False),
  expect=[('seq', 9007199254740991), ('more', 'false'), ('body_len', 0)])
w(P, True, 'stream_next_base64', rep(status=None, seq=2, more=True, body="AAE=", body_encoding="base64"),
  expect=[('seq', 2), ('body_len', 2)])
w(P, False, 'stream_more_string', rep(more="true"), 'bad_field')
w(P, False, 'stream_more_number', rep(more=1), 'bad_field')
w(P, False, 'stream_seq_negative', rep(status=None, seq=-1, more=True), 'bad_field')
w(P, False, 'stream_seq_huge', rep(status=None, seq=9007199254740992, more=True), 'bad_field')
w(P, False, 'stream_seq_string', rep(status=None, seq="1", more=True), 'bad_field')
w(P, False, 'stream_next_status', rep(seq=1, more=True), 'bad_field')
w(P, False, 'stream_next_headers', rep(status=None, seq=1, more=True, headers=[]), 'bad_field')
w(P, False, 'stream_next_no_more', rep(status=None, seq=1, body="x"), 'bad_field')
w(P, False, 'stream_next_body_ref', rep(status=None, seq=1, more=True,
  body_ref="portico:body:%s:rep" % ID, body_len=3), 'bad_body')
w(P, False, 'stream_first_body_ref', rep(more=True, body_ref="portico:body:%s:rep" % ID, body_len=3), 'bad_body')
w(P, False, 'stream_first_no_status', rep(status=None, more=True), 'bad_status')
# Wire version 2 (SPEC §13): a one-line head, "\n", then body_len raw bytes.
# Written as bytes: no newline is added at the end.
def v2(head, raw=b'', **over):
    m = dict(head)
    m['v'] = 2
    for k, v in over.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return json.dumps(m, separators=(',', ':')).encode() + b'\n' + raw
RH = {"v": 2, "id": ID, "status": 200}
ALL = bytes(range(256))
w(P, True, 'v2_no_body', v2(RH, status=204), expect=[('wire', 2), ('status', 204), ('body_len', 0)])
w(P, True, 'v2_len_zero', v2(RH, body_len=0), expect=[('wire', 2), ('body_len', 0)])
w(P, True, 'v2_json_body', v2(RH, b'{"id":"42"}', body_len=11, headers=[["content-type", "application/json"]]),
  expect=[('wire', 2), ('nheaders', 1), ('body', '{"id":"42"}'), ('body_len', 11)])
w(P, True, 'v2_binary_body', v2(RH, ALL, body_len=256), expect=[('wire', 2), ('body_len', 256)])
w(P, True, 'v2_body_newlines', v2(RH, b'\n{"v":2}\n\n', body_len=10),
  expect=[('wire', 2), ('body_len', 10)])
w(P, True, 'v2_head_spaces', b'{ "v": 2, "id": "%s", "status": 201, "body_len": 2 } \r\nok' % ID.encode(),
  expect=[('wire', 2), ('status', 201), ('body', 'ok')])
w(P, True, 'v2_body_ref', v2(RH, body_ref="portico:body:%s:rep" % ID, body_len=40000000),
  expect=[('wire', 2), ('body_ref', 'portico:body:%s:rep' % ID), ('body_len', 40000000)])
w(P, True, 'v1_wire_1', rep(body="x"), expect=[('wire', 1), ('body', 'x')])
w(P, False, 'v2_no_newline', json.dumps(RH, separators=(',', ':')).encode(), 'bad_framing')
w(P, False, 'v2_no_newline_body', json.dumps(dict(RH, body_len=3), separators=(',', ':')).encode(), 'bad_framing')
w(P, False, 'v2_len_short', v2(RH, b'abc', body_len=5), 'bad_framing')
w(P, False, 'v2_len_long', v2(RH, b'abc', body_len=2), 'bad_framing')
w(P, False, 'v2_len_absent', v2(RH, b'abc'), 'bad_framing')
w(P, False, 'v2_len_negative', v2(RH, body_len=-1), 'bad_body')
w(P, False, 'v2_len_string', v2(RH, b'abc', body_len="3"), 'bad_body')
w(P, False, 'v2_body_field', v2(RH, body="abc"), 'bad_body')
w(P, False, 'v2_body_field_len', v2(RH, b'abc', body="abc", body_len=3), 'bad_body')
w(P, False, 'v2_body_encoding', v2(RH, b'abc', body_encoding="base64", body_len=3), 'bad_body')
w(P, False, 'v2_ref_then_bytes', v2(RH, b'abc', body_ref="portico:body:%s:rep" % ID, body_len=3), 'bad_framing')
w(P, False, 'v2_head_not_json', b'{"v":2,"id":"%s","status":200\nabc' % ID.encode(), 'not_json')
w(P, False, 'v2_head_garbage', b'v=2 id=%s\nabc' % ID.encode(), 'not_json')
w(P, False, 'v3', rep(v=3), 'bad_version')
w(P, False, 'v3_head', v2(RH, b'abc', v=3, body_len=3), 'not_json')
# streamed replies in v2: "more" and "seq" are head fields, the body raw after the head
SH = {"v": 2, "id": ID, "seq": 1, "more": True}
w(P, True, 'v2_stream_first', v2(RH, b'data: 0\n\n', more=True, body_len=9,
  headers=[["content-type", "text/event-stream"]]),
  expect=[('wire', 2), ('status', 200), ('more', 'true'), ('seq', 0), ('body_len', 9)])
w(P, True, 'v2_stream_next', v2(SH, b'data: 1\n\n', body_len=9),
  expect=[('wire', 2), ('status', 0), ('seq', 1), ('more', 'true'), ('body_len', 9)])
w(P, True, 'v2_stream_next_binary', v2(SH, ALL, seq=2, body_len=256),
  expect=[('wire', 2), ('seq', 2), ('body_len', 256)])
w(P, True, 'v2_stream_last', v2(SH, seq=3, more=False), expect=[('wire', 2), ('seq', 3), ('more', 'false'), ('body_len', 0)])
w(P, False, 'v2_stream_next_len_short', v2(SH, b'ab', body_len=3), 'bad_framing')
w(P, False, 'v2_stream_next_no_newline', json.dumps(SH, separators=(',', ':')).encode(), 'bad_framing')
w(P, False, 'v2_stream_next_body_field', v2(SH, body="x"), 'bad_body')
w(P, False, 'v2_stream_next_status', v2(SH, status=200), 'bad_field')
w(P, False, 'v2_stream_next_no_more', v2(SH, b'x', more=None, body_len=1), 'bad_field')
w(P, False, 'v2_stream_next_body_ref', v2(SH, body_ref="portico:body:%s:rep" % ID, body_len=3), 'bad_body')
w(P, False, 'v2_stream_first_body_ref', v2(RH, more=True, body_ref="portico:body:%s:rep" % ID, body_len=3), 'bad_body')

# ------------------------------------------------------------------- request
Q = 'request'
def req(**over):
    m = {"v": 1, "id": ID, "reply_to": "portico:reply:9d7a3c51-8a0e-4c8b-9b7e-5d0f7e2b1c3a",
         "deadline_ms": 1763772350678, "method": "GET", "path": "/users/42"}
    for k, v in over.items():
        if v is None:
            m.pop(k, None)
        else:
            m[k] = v
    return json.dumps(m)

w(Q, True, 'spec_example', '''{"v":1, "id":"%s", "reply_to":"portico:reply:9d7a3c51-8a0e-4c8b-9b7e-5d0f7e2b1c3a",
 "deadline_ms":1763772350678, "method":"GET", "path":"/users/42", "query":"verbose=1",
 "route":"/users/{id}", "params":{"id":"42"},
 "headers":[["host","api.example"],["accept","*/*"],["x-request-id","abc"]],
 "remote_addr":"203.0.113.9", "body":"AAEC/w==", "body_encoding":"base64"}''' % ID,
  expect=[('id', ID), ('reply_to', 'portico:reply:9d7a3c51-8a0e-4c8b-9b7e-5d0f7e2b1c3a'),
          ('deadline_ms', 1763772350678), ('method', 'GET'), ('path', '/users/42'), ('query', 'verbose=1'),
          ('route', '/users/{id}'), ('param.id', '42'), ('nparams', 1), ('nheaders', 3),
          ('header.2.name', 'x-request-id'), ('remote_addr', '203.0.113.9'), ('body_len', 4)])
w(Q, True, 'minimal', req(), expect=[('query', ''), ('route', '(null)'), ('remote_addr', '(null)'),
                                     ('nparams', 0), ('nheaders', 0), ('body_len', 0)])
w(Q, True, 'text_body', req(method="POST", body="{\"name\":\"ann\"}"), expect=[('body', '{"name":"ann"}')])
w(Q, True, 'deadline_zero', req(deadline_ms=0), expect=[('deadline_ms', 0)])

w(Q, False, 'not_json', 'GET /users HTTP/1.1', 'not_json')
w(Q, False, 'no_id', req(id=None), 'no_id')
w(Q, False, 'id_not_uuid', req(id="42"), 'no_id')
w(Q, False, 'version_0', req(v=0), 'bad_version')
w(Q, False, 'reply_to_missing', req(reply_to=None), 'bad_field')
w(Q, False, 'method_number', req(method=1), 'bad_field')
w(Q, False, 'path_nul', req(path="/a\u0000b"), 'bad_field')
w(Q, False, 'deadline_missing', req(deadline_ms=None), 'bad_field')
w(Q, False, 'deadline_negative', req(deadline_ms=-1), 'bad_field')
w(Q, False, 'deadline_string', req(deadline_ms="1763772350678"), 'bad_field')
w(Q, False, 'query_number', req(query=1), 'bad_field')
w(Q, False, 'params_array', req(params=["id", "42"]), 'bad_field')
w(Q, False, 'params_value_number', req(params={"id": 42}), 'bad_field')
w(Q, False, 'headers_single', req(headers=[["host"]]), 'bad_header')
w(Q, False, 'body_encoding_gzip', req(body="aGk=", body_encoding="gzip"), 'bad_body')
w(Q, False, 'base64_bad_char', req(body="aG!=", body_encoding="base64"), 'bad_body')
w(Q, False, 'too_deep', req(x=json.loads('{"a":' * 40 + '1' + '}' * 40)), 'too_deep')

QH = json.loads(req())
w(Q, True, 'v2_minimal', v2(QH), expect=[('wire', 2), ('method', 'GET'), ('body_len', 0)])
w(Q, True, 'v2_spec_example', v2(dict(QH, query="verbose=1", route="/users/{id}", params={"id": "42"},
                                      headers=[["content-type", "application/json"]], remote_addr="203.0.113.9"),
                                 b'{"name":"ann"}', method="POST", body_len=14),
  expect=[('wire', 2), ('method', 'POST'), ('query', 'verbose=1'), ('param.id', '42'), ('nheaders', 1),
          ('remote_addr', '203.0.113.9'), ('body', '{"name":"ann"}'), ('body_len', 14)])
w(Q, True, 'v2_binary_body', v2(QH, ALL, method="PUT", body_len=256), expect=[('wire', 2), ('body_len', 256)])
w(Q, True, 'v2_body_ref', v2(QH, body_ref="portico:body:%s:req" % ID, body_len=70000),
  expect=[('wire', 2), ('body_ref', 'portico:body:%s:req' % ID), ('body_len', 70000)])
w(Q, False, 'v2_no_newline', json.dumps(dict(QH, v=2)).encode(), 'bad_framing')
w(Q, False, 'v2_len_short', v2(QH, b'abc', body_len=4), 'bad_framing')
w(Q, False, 'v2_len_absent', v2(QH, b'abc'), 'bad_framing')
w(Q, False, 'v2_body_field', v2(QH, body="abc"), 'bad_body')
w(Q, False, 'v2_body_encoding', v2(QH, body_encoding="base64"), 'bad_body')
w(Q, False, 'v2_head_not_json', v2(QH, b'abc', body_len=3)[:-30] + b'\nabc', 'not_json')
