"""Stand-in ML server for the search check: CLIP textual embedding = a fixed unit vector."""
import json, math
from http.server import BaseHTTPRequestHandler, HTTPServer

DIM = 512
VEC = [1.0 / math.sqrt(DIM)] * DIM

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"pong")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"clip": json.dumps(VEC)}).encode()
        self.send_response(200); self.send_header("content-type", "application/json"); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass

HTTPServer(("127.0.0.1", 3113), H).serve_forever()
