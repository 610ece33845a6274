"""The lifecycle of one geocode job on AWS, read top to bottom:

``submit`` (a file dropped in S3 becomes a provider job and a state machine execution),
``status`` (one status check of the poll loop), ``download`` (result sets to S3, record
COMPLETED) and ``failure`` (record FAILED with the reason). ``jobs`` is the job record and its
DynamoDB store, ``storage`` the S3 adapter, ``provider`` the key and the Dataflow client.
"""
