DROP TABLE spend_ledger;
