"""The servers the suite measures: each echoes at `/echo`, fans out at `/broadcast`.

A message received on a ``/broadcast`` connection goes to every other ``/broadcast`` connection;
anything else is echoed to its sender. Each peer is written the way its users write one.
"""
