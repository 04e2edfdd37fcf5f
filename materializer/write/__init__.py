"""The write side: the seq-fenced PostgreSQL views and the Redis live set, applied per batch."""
