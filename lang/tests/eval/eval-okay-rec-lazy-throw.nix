# Attributes of a rec set are lazy.
(rec { a = throw "not needed"; b = 1; c = b + 1; }).c
