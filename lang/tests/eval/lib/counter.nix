# imported several times; returns a fresh attrset each time.
{ n = 1; }
