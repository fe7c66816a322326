"""A container's serving stack, as an image mapped in engine.json runs it:
`GET /ping` and `POST /invocations` on `--port`. Each answer says what the
container was given: its model data (argument and environment), its
environment, and SAGEMAKER_BIND_TO_PORT."""

import http.server
import json
import os
import sys

arguments = sys.argv[1:]
port = int(arguments[arguments.index("--port") + 1])
model = arguments[arguments.index("--model") + 1] if "--model" in arguments else None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ping" else 404)
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        answer = json.dumps(
            {
                "model_argument": model,
                "model_data_url": os.environ.get("GUARDRAIL_MODEL_DATA_URL"),
                "greeting": os.environ.get("GREETING"),
                "bind_to_port": os.environ.get("SAGEMAKER_BIND_TO_PORT"),
                "body": body,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
