# A lone $ or { is literal text.
''
  cost: $5 {braces} $ {x}
''
