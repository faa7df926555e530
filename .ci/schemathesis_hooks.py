"""schemathesis hooks for oauthd (loaded through SCHEMATHESIS_HOOKS).

The token endpoint answers application/x-www-form-urlencoded when a client
asks for it. schemathesis has no deserializer for that media type, so without
this hook those answers would go unchecked. Every form value is text; the one
integer member of the token answer (`expires_in`) is turned back into a
number so the same schema checks both encodings.
"""

from urllib.parse import parse_qsl

import schemathesis

INTEGER_MEMBERS = {"expires_in"}


@schemathesis.deserializer("application/x-www-form-urlencoded")
def form_urlencoded(ctx, response):
    text = response.content.decode("utf-8")
    pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    body = {}
    for key, value in pairs:
        if key in body:
            raise ValueError(f"member {key!r} appears twice")
        if key in INTEGER_MEMBERS and value.lstrip("-").isdigit():
            value = int(value)
        body[key] = value
    return body
