import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { PrincipalEntity } from './principal.entity';
import { TokenEntity } from './token.entity';

/** A signed-in browser of the approver page (api/ui). Only the SHA-256 of its id is kept. */
@Entity('ui_sessions')
export class UiSessionEntity {
  @PrimaryColumn({ name: 'id_hash', type: 'text' })
  idHash!: string;

  @Column({ name: 'principal_id', type: 'text' })
  principalId!: string;

  @ManyToOne(() => PrincipalEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'principal_id' })
  principal?: PrincipalEntity;

  /** The token the person signed in with, if any: revoking it ends the session. */
  @Column({ name: 'token_id', type: 'text', nullable: true })
  tokenId!: string | null;

  @ManyToOne(() => TokenEntity, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'token_id' })
  token?: TokenEntity | null;

  /** `token` or `oidc`. */
  @Column({ type: 'text' })
  via!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz' })
  lastSeenAt!: Date;

  /** The absolute end: created_at plus auth.ui.sessionMaxAge. */
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}

/** An OIDC sign-in between the redirect to the provider and its callback: one use, minutes long. */
@Entity('ui_sign_ins')
export class UiSignInEntity {
  @PrimaryColumn({ name: 'state_hash', type: 'text' })
  stateHash!: string;

  @Column({ name: 'code_verifier', type: 'text' })
  codeVerifier!: string;

  @Column({ type: 'text' })
  nonce!: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}
