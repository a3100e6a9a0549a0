(x: "unused argument") (throw "never forced")
