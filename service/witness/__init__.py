"""A witness that is not the log (c2sp.org/tlog-witness): its own process, key and storage.

notes: signed notes, checkpoints and cosignature/v1, shared with the service that submits to it
and with whoever verifies. store: the latest checkpoint cosigned per origin. app: the HTTP
service (POST /add-checkpoint, GET /<origin hash>/checkpoint). cli: `separation-guard witness`.
"""
