{ a = { b = { c = throw "deep inside"; }; }; }
