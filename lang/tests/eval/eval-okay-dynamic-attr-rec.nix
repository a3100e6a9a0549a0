# In rec sets, dynamic attributes can refer to static ones.
rec { a = "x"; ${a} = a + "y"; }
