app-title = Conclave
