import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One row per identity key a principal claims (policy/identity.ts and policy/confusables.ts:
 * `email:…`, `login:…`, `subject:…`, `skeleton:…`). The primary key is what makes "one identity
 * names one person" hold under concurrent writes: PostgreSQL refuses the second claim, however
 * the requests interleave.
 */
@Entity('principal_identities')
export class PrincipalIdentityEntity {
  @PrimaryColumn({ type: 'text' })
  key!: string;

  @Column({ name: 'principal_id', type: 'text' })
  principalId!: string;
}
