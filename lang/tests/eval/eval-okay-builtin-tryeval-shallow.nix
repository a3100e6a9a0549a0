# tryEval only forces to weak head normal form: errors inside are not caught.
let r = builtins.tryEval { a = throw "inner"; }; in [ r.success (builtins.attrNames r.value) ]
