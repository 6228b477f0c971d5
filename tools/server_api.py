"""The tools' side of the server's operations API (contract: docs/tools.md, "Server contract").
JSON over HTTPS, `Authorization: Bearer <token>` (the operator's token, from --token or
SCANPAY_OPS_TOKEN). Each failure is an OpsError with the server's error code and message."""
import json
import urllib.error
import urllib.request


class OpsError(Exception):
    pass


class OpsClient:
    timeout_s = 30

    def __init__(self, base_url, token):
        if not base_url.startswith(("http://", "https://")):
            raise OpsError("server URL must start with http:// or https://: %r" % base_url)
        if not token:
            raise OpsError("no operator token: pass --token or set SCANPAY_OPS_TOKEN")
        self.base_url = base_url.rstrip("/")
        self._token = token

    def call(self, method, path, body=None, content_type="application/json"):
        if body is not None and content_type == "application/json":
            body = json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=body, method=method, headers={
            "Authorization": "Bearer " + self._token, "Accept": "application/json",
            **({"Content-Type": content_type} if body is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                error = json.loads(raw)["error"]
                detail = "%s: %s" % (error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                detail = raw[:200].decode(errors="replace") or e.reason
            if e.code == 404 and not raw.startswith(b"{"):
                detail += " (does this server have the operations API? see docs/tools.md)"
            raise OpsError("%s %s: HTTP %d %s" % (method, path, e.code, detail))
        except (urllib.error.URLError, OSError) as e:
            raise OpsError("%s %s: cannot reach %s: %s" % (method, path, self.base_url,
                                                            getattr(e, "reason", e)))
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise OpsError("%s %s: the answer is not JSON" % (method, path))

    # ---- provisioning ---------------------------------------------------------------------------
    def register_device(self, device_id, profile, merchant_id=None, store=None, issue="activation_code"):
        return self.call("POST", "/ops/v1/devices", {"device_id": device_id, "profile": profile,
                                                     "merchant_id": merchant_id, "store": store,
                                                     "issue": issue})

    # ---- releases -------------------------------------------------------------------------------
    def upload_build(self, profile, version, tarball):
        return self.call("PUT", "/ops/v1/firmware/%s/%s" % (profile, version), tarball,
                         content_type="application/gzip")

    def start_rollout(self, profile, version, failure_threshold):
        return self.call("POST", "/ops/v1/rollouts", {"profile": profile, "version": version,
                                                      "failure_threshold": failure_threshold})

    def add_stage(self, rollout_id, share=None, groups=None, last=False):
        stage = {"share": share} if share is not None else {"groups": groups}
        if last:
            stage["last"] = True        # no stage follows: the rollout completes once it settles
        return self.call("POST", "/ops/v1/rollouts/%s/stages" % rollout_id, stage)

    def rollout_status(self, rollout_id):
        return self.call("GET", "/ops/v1/rollouts/%s" % rollout_id)

    def stop_rollout(self, rollout_id, reason):
        return self.call("POST", "/ops/v1/rollouts/%s/stop" % rollout_id, {"reason": reason})
