throw "a deliberate error"
