"""UK Capital Gains Tax on the traded assets, by HMRC's matching rules for cryptoassets."""
