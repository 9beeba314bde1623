"""The front door: the command line, the demo and the process supervision of `offsite up`.

The only package that imports every other one; nothing imports it."""
