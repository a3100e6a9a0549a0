/* block comment */ [ 1 # line comment
  /* multi
     line */ 2
  /**/ 3 ]
