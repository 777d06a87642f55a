/**
 * Word lists the totesys generators draw names from. Plain, English, and fictional: nothing here
 * refers to a real person or company.
 */

export const FIRST_NAMES = [
  'Jeremie', 'Deron', 'Jeanette', 'Ana', 'Magdalena', 'Korey', 'Raphael', 'Oswaldo', 'Brody', 'Jazmyn',
  'Meda', 'Imani', 'Stan', 'Rigoberto', 'Tom', 'Jett', 'Irving', 'Tomasa', 'Pierre', 'Flavio',
  'Lucy', 'Omar', 'Priya', 'Hamish', 'Sinead', 'Tobias', 'Wanda', 'Yusuf', 'Nell', 'Cormac',
] as const;

export const LAST_NAMES = [
  'Franey', 'Beier', 'Erdman', 'Glover', 'Berge', 'Reynolds', 'Rippin', 'Kuhlman', 'Cruickshank', 'Parker',
  'Homenick', 'Crooks', 'Lehner', 'Lindgren', 'Moen', 'Schmidt', 'Kiehn', 'Ward', 'Bogan', 'Jones',
  'Okafor', 'Patel', 'McKenna', 'Haldane', 'Nowak', 'Osei', 'Thornbury', 'Vance', 'Whitlock', 'Yates',
] as const;

/** Departments of Terrific Totes, with the office each sits in (null: not recorded). */
export const DEPARTMENTS: readonly { readonly name: string; readonly location: string | null }[] = [
  { name: 'Sales', location: 'Manchester' },
  { name: 'Purchasing', location: 'Manchester' },
  { name: 'Production', location: 'Leeds' },
  { name: 'Dispatch', location: 'Leeds' },
  { name: 'Finance', location: null },
  { name: 'Facilities', location: 'Manchester' },
  { name: 'Communications', location: null },
  { name: 'HR', location: 'Leeds' },
];

export const OFFICE_LOCATIONS = ['Manchester', 'Leeds', 'Liverpool', 'Sheffield', 'York'] as const;

export const COMPANY_WORDS = [
  'Fahey', 'Leannon', 'Armstrong', 'Kohler', 'Frami', 'Mraz', 'Bechtelar', 'Jacobson', 'Hansen', 'Kling',
  'Yost', 'Moore', 'Grady', 'Lubowitz', 'Price', 'Ondricka', 'Stracke', 'Wyman', 'Bosco', 'Dicki',
] as const;

export const COMPANY_SUFFIXES = ['and Sons', 'Inc', 'LLC', 'Group', 'Ltd', 'and Partners', '& Co'] as const;

export const STREET_WORDS = [
  'Maple', 'Oak', 'Station', 'Church', 'Mill', 'Victoria', 'Park', 'Kings', 'Queens', 'Bridge',
  'Orchard', 'Meadow', 'Harbour', 'Willow', 'Market',
] as const;

export const STREET_KINDS = ['Road', 'Street', 'Lane', 'Avenue', 'Close', 'Way', 'Terrace'] as const;

export const DISTRICTS = ['Avon', 'Bedfordshire', 'Berkshire', 'Buckinghamshire', 'Cambridgeshire', 'Cheshire', 'Cornwall', 'Cumbria'] as const;

/** City and country pairs, so a delivery address is at least geographically coherent. */
export const CITIES: readonly { readonly city: string; readonly country: string }[] = [
  { city: 'New Patienceburgh', country: 'Turkey' },
  { city: 'Aliso Viejo', country: 'San Marino' },
  { city: 'Lake Charles', country: 'Samoa' },
  { city: 'Manchester', country: 'United Kingdom' },
  { city: 'Leeds', country: 'United Kingdom' },
  { city: 'Lyon', country: 'France' },
  { city: 'Hamburg', country: 'Germany' },
  { city: 'Porto', country: 'Portugal' },
  { city: 'Austin', country: 'United States' },
  { city: 'Galway', country: 'Ireland' },
  { city: 'Utrecht', country: 'Netherlands' },
  { city: 'Bergen', country: 'Norway' },
];

export const DESIGN_WORDS = [
  'Wooden', 'Granite', 'Steel', 'Fresh', 'Soft', 'Bronze', 'Plastic', 'Cotton', 'Rubber', 'Concrete',
  'Frozen', 'Metal', 'Tasty', 'Silk', 'Linen', 'Marble', 'Velvet', 'Denim', 'Canvas', 'Jute',
] as const;

export const FILE_FOLDERS = ['/private', '/usr', '/usr/share', '/System', '/opt/include', '/lost+found', '/Users', '/home/user/dir'] as const;

export const CURRENCY_CODES = ['GBP', 'USD', 'EUR'] as const;

/** payment_type ids follow this order: SALES_RECEIPT 1 … PURCHASE_REFUND 4. */
export const PAYMENT_TYPE_NAMES = ['SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND'] as const;
