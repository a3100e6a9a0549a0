# An attribute whose dynamic name evaluates to null is left out.
{ ${null} = 1; b = 2; ${if false then "c" else null} = 3; }
