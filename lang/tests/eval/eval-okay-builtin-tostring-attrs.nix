[ (toString { __toString = self: "custom ${self.x}"; x = "X"; }) (toString { outPath = "/some/out"; }) (toString { __toString = self: self.outPath; outPath = "o"; }) ]
