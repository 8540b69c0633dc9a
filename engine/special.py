"""Status lines and nginx's built-in error pages (``ngx_http_special_response.c``).

trinx answers with nginx 1.22.1's exact bytes (``Server: nginx/1.22.1`` and the same page
tails) because clients, caches and conformance suites compare them; ``trinx -V`` tells the
truth about what is running.
"""

from __future__ import annotations

__all__ = ["NGINX_VERSION", "SERVER_TOKEN", "REASONS", "status_line", "error_page_body",
           "CLOSE_ON_ERROR"]

NGINX_VERSION = "1.22.1"
SERVER_TOKEN = "nginx/" + NGINX_VERSION

REASONS: dict[int, str] = {
    100: "Continue", 101: "Switching Protocols",
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Moved Temporarily", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Not Allowed", 406: "Not Acceptable", 408: "Request Time-out",
    409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Large",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    421: "Misdirected Request", 429: "Too Many Requests",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
    505: "HTTP Version Not Supported", 507: "Insufficient Storage",
}

_STATUS_LINES: dict[int, bytes] = {
    code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}


def status_line(code: int) -> bytes:
    line = _STATUS_LINES.get(code)
    if line is None:
        line = f"HTTP/1.1 {code:03d} \r\n".encode()
    return line


_TITLES: dict[int, str] = {
    301: "301 Moved Permanently", 302: "302 Found", 303: "303 See Other",
    307: "307 Temporary Redirect", 308: "308 Permanent Redirect",
    400: "400 Bad Request", 401: "401 Authorization Required", 402: "402 Payment Required",
    403: "403 Forbidden", 404: "404 Not Found", 405: "405 Not Allowed",
    406: "406 Not Acceptable", 408: "408 Request Time-out", 409: "409 Conflict",
    410: "410 Gone", 411: "411 Length Required", 412: "412 Precondition Failed",
    413: "413 Request Entity Too Large", 414: "414 Request-URI Too Large",
    415: "415 Unsupported Media Type", 416: "416 Requested Range Not Satisfiable",
    421: "421 Misdirected Request", 429: "429 Too Many Requests",
    494: "400 Request Header Or Cookie Too Large",
    495: "400 The SSL certificate error", 496: "400 No required SSL certificate was sent",
    497: "400 The plain HTTP request was sent to HTTPS port",
    500: "500 Internal Server Error", 501: "501 Not Implemented", 502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable", 504: "504 Gateway Time-out",
    505: "505 HTTP Version Not Supported", 507: "507 Insufficient Storage",
}

_TAIL_ON = b"<hr><center>" + SERVER_TOKEN.encode() + b"</center>\r\n</body>\r\n</html>\r\n"
_TAIL_OFF = b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
_MSIE_PADDING = (
    b"<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n" * 6)

# codes after which nginx drops keep-alive (ngx_http_special_response_handler)
CLOSE_ON_ERROR = frozenset({400, 413, 414, 494, 495, 496, 497, 500, 501})


def error_page_body(code: int, server_tokens: bool, msie_padding: bool = False) -> bytes | None:
    """The built-in page for ``code``, or None when nginx has none (e.g. 418)."""
    title = _TITLES.get(code)
    if title is None:
        return None
    if 494 <= code <= 497:
        # nginx's 49x pages: a "400 Bad Request" heading and the reason on its own line
        reason = title[4:]
        body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>400 Bad Request</h1></center>\r\n"
                f"<center>{reason}</center>\r\n").encode()
    else:
        body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n").encode()
    body += _TAIL_ON if server_tokens else _TAIL_OFF
    if msie_padding and code >= 400:
        body += _MSIE_PADDING
    return body
