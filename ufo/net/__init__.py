"""Frame streams between processes and hosts over ZMQ (the camera server and its clients)."""
