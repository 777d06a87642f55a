-- dim_counterparty: every counterparty with its legal address.
-- Grain: one row per counterparty_id (its latest version). Rebuilt whole each batch, so an address
--   change refreshes every counterparty registered there.
-- Sources: current_counterparty joined to current_address on legal_address_id.
-- Nullable address parts stay NULL; a LEFT JOIN keeps a counterparty whose address is missing.
SELECT
  counterparty.counterparty_id,
  counterparty.counterparty_legal_name,
  address.address_line_1 AS counterparty_legal_address_line_1,
  address.address_line_2 AS counterparty_legal_address_line_2,
  address.district AS counterparty_legal_district,
  address.city AS counterparty_legal_city,
  address.postal_code AS counterparty_legal_postal_code,
  address.country AS counterparty_legal_country,
  address.phone AS counterparty_legal_phone_number
FROM current_counterparty AS counterparty
LEFT JOIN current_address AS address
  ON address.address_id = counterparty.legal_address_id
