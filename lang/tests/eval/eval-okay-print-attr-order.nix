# Attributes are printed sorted by name (byte order), whatever the source order.
{ b = 1; a = 2; C = 3; "_" = 4; "10" = 5; "9" = 6; aa = 7; A = 8; }
