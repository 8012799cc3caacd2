"""Attachments (XEP-0363), owned here for both front doors: the slot IQ (component.upload) and the upload
host (http_upload) each call one method of service.UploadService per request.

service.py the use cases · writer.py slot decisions and rows in group commits (on batch_connection.py)
· quota_ledger.py each person's usage in memory · records.py what is kept in memory · slot_tokens.py ids,
PUT tokens, URLs · file_store.py the files on disk · housekeeping.py expiry, retention, stray files.
"""
